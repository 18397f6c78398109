// After sign-out: remove anything the web component stored, then go
// back to the login page.
(function () {
  "use strict";
  window.mdaClearDescopeStorage(); // descope-storage.js
  var cfg = document.getElementById("mda-config").dataset;
  window.location.replace(cfg.loginUrl);
})();
