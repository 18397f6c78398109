// Hands the tokens from the Descope web component to the gateway, which keeps
// them in HttpOnly cookies, then removes everything the component left in
// storage so no script on this origin can read it. A project that manages its
// tokens in cookies puts none in the success event: the gateway then reads
// Descope's cookies, which the browser sends with this same-origin request.
(function () {
  "use strict";
  var cfg = document.getElementById("mda-config").dataset;
  var wc = document.getElementById("descope-wc");
  var errBox = document.getElementById("mda-error");

  function clearStoredTokens() {
    window.mdaClearDescopeStorage(); // descope-storage.js
  }

  function showError(msg) {
    errBox.textContent = msg;
    errBox.hidden = false;
  }

  wc.addEventListener("success", function (e) {
    var d = (e && e.detail) || {};
    fetch(cfg.sessionUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ sessionJwt: d.sessionJwt || "", refreshJwt: d.refreshJwt || "", next: cfg.next || "" })
    }).then(function (res) {
      clearStoredTokens();
      return res.json().then(function (body) { return { ok: res.ok, body: body }; });
    }).then(function (r) {
      if (r.ok && r.body.redirect) {
        window.location.replace(r.body.redirect);
      } else {
        showError((r.body && r.body.message) || "Sign-in failed.");
      }
    }).catch(function () {
      clearStoredTokens();
      showError("Sign-in failed: the server could not be reached.");
    });
  });

  wc.addEventListener("error", function (e) {
    var d = (e && e.detail) || {};
    showError("Sign-in failed" + (d.errorDescription ? ": " + d.errorDescription : "."));
  });
})();
