// Shows who is signed in, and a sign-out button, in the strip the gateway
// keeps above the MLflow UI (banner.css lays MLflow out below it).
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
      bar.setAttribute("role", "region");
      bar.setAttribute("aria-label", "Signed-in user");
      var name = document.createElement("span");
      name.id = "mda-user";
      name.textContent = who.display_name + (who.admin ? " (admin)" : "");
      name.title = "MLflow user: " + who.username;
      // Signing out is a same-origin POST: a link another site could make
      // a browser follow would sign people out at will.
      var form = document.createElement("form");
      form.method = "post";
      form.action = base + "/auth/logout";
      var out = document.createElement("button");
      out.id = "mda-signout";
      out.type = "submit";
      out.textContent = "Sign out";
      // The MLflow UI is a single-page app that handles clicks itself, and
      // its popovers close on any press outside them: this press is ours.
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
