// Shows who is signed in, and a sign-out link, on top of the MLflow UI.
(function () {
  "use strict";
  var me = document.currentScript;
  var base = (me && me.dataset.prefix) || "";
  fetch(base + "/auth/whoami", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (res) { return res.ok ? res.json() : null; })
    .then(function (who) {
      if (!who) { return; }
      var bar = document.createElement("div");
      bar.id = "mda-banner";
      bar.setAttribute("style", "position:fixed;top:6px;right:12px;z-index:2147483647;font:13px system-ui,sans-serif;" +
        "background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 10px;box-shadow:0 1px 3px rgba(0,0,0,.15)");
      var name = document.createElement("span");
      name.id = "mda-user";
      name.textContent = who.display_name + (who.admin ? " (admin)" : "");
      name.title = "MLflow user: " + who.username;
      // Signing out is a same-origin POST: a link another site could make
      // a browser follow would sign people out at will.
      var form = document.createElement("form");
      form.method = "post";
      form.action = base + "/auth/logout";
      form.setAttribute("style", "display:inline;margin:0 0 0 10px");
      var out = document.createElement("button");
      out.id = "mda-signout";
      out.type = "submit";
      out.textContent = "Sign out";
      out.setAttribute("style", "border:0;background:none;color:#0969da;cursor:pointer;font:inherit;padding:0");
      // The MLflow UI is a single-page app that handles clicks itself; keep
      // this one to ourselves.
      out.addEventListener("click", function (ev) {
        ev.preventDefault();
        ev.stopPropagation();
        form.submit();
      });
      form.appendChild(out);
      // The user's own access keys (and sign-in from code).
      var keys = document.createElement("a");
      keys.id = "mda-keys";
      keys.href = base + "/auth/keys";
      keys.textContent = "Access keys";
      keys.setAttribute("style", "margin-left:10px;color:#0969da;text-decoration:none");
      keys.addEventListener("click", function (ev) { ev.stopPropagation(); });
      bar.appendChild(name);
      bar.appendChild(keys);
      bar.appendChild(form);
      document.body.appendChild(bar);
    })
    .catch(function () { /* the banner is a convenience */ });
})();
