// After sign-out: remove any token copies the web component stored, then go
// back to the login page.
(function () {
  "use strict";
  try {
    ["DS", "DSR"].forEach(function (k) { window.localStorage.removeItem(k); });
  } catch (e) { /* storage may be disabled */ }
  var cfg = document.getElementById("mda-config").dataset;
  window.location.replace(cfg.loginUrl);
})();
