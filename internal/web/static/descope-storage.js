// What @descope/web-component (4.x, with @descope/web-js-sdk) leaves in this
// origin's storage, read from the published packages: the tokens (DS, DSR),
// the OIDC ID token (DSI), the refresh cookie's name (DSRCN), a trusted-device
// token (DTD), the session expiry (DSLI), the last user's login ID and name,
// the last authentication method, an A/B-testing ID, the fingerprint data, and
// one flow nonce per execution. The browser test with the real component
// (internal/gatewaytest) checks that nothing is left. The gateway keeps the tokens in HttpOnly cookies; none of these
// may stay where any script on this origin (MLflow's UI) could read them.
(function () {
  "use strict";
  var exact = ["DS", "DSR", "DSI", "DSRCN", "DTD", "DSLI",
    "dls_last_user_login_id", "dls_last_user_display_name",
    "dls_last_auth", "dls_last_auth_in_flight", "dls_ab_testing_id", "fp"];
  // Every dls_ key is the component's; future versions may add more.
  var prefixes = ["descopeFlowNonce", "dls_"];
  var session = ["dls_last_submitted_login_id"];

  function sweep(store, names, prefixList) {
    if (!store) { return; }
    names.forEach(function (k) { store.removeItem(k); });
    for (var i = store.length - 1; i >= 0; i--) {
      var k = store.key(i);
      if (k && prefixList.some(function (p) { return k.indexOf(p) === 0; })) {
        store.removeItem(k);
      }
    }
  }

  window.mdaClearDescopeStorage = function () {
    try { sweep(window.localStorage, exact, prefixes); } catch (e) { /* storage may be disabled */ }
    try { sweep(window.sessionStorage, session, ["dls_"]); } catch (e) { /* likewise */ }
  };
})();
