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
      var out = document.createElement("a");
      out.id = "mda-signout";
      out.href = base + "/auth/logout";
      out.textContent = "Sign out";
      out.setAttribute("style", "margin-left:10px");
      // The MLflow UI is a single-page app that handles link clicks itself;
      // leave it out of this one and do a real navigation.
      out.addEventListener("click", function (ev) {
        ev.preventDefault();
        ev.stopPropagation();
        window.location.assign(out.href);
      });
      bar.appendChild(name);
      bar.appendChild(out);
      document.body.appendChild(bar);
    })
    .catch(function () { /* the banner is a convenience */ });
})();
