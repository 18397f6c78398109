// Hands the tokens from the Descope web component to the gateway, which keeps
// them in HttpOnly cookies, then removes everything the component left in
// storage so no script on this origin can read it. A project that manages its
// tokens in cookies puts none in the success event: the gateway then reads
// Descope's cookies, which the browser sends with this same-origin request.
//
// When the component cannot load or start, the page says so, in plain words
// and with what to check, instead of showing an empty card: the script did
// not load (blocked, wrong URL), the flow's configuration could not be read
// (wrong project or flow ID: the component only logs this), Descope refused
// to start the flow (an origin the project has not approved), or nothing
// happened within startTimeout.
(function () {
  "use strict";
  var cfg = document.getElementById("mda-config").dataset;
  var wc = document.getElementById("descope-wc");
  var errBox = document.getElementById("mda-error");
  var problem = document.getElementById("mda-problem");
  var startTimeout = 8000;
  var started = false;

  function clearStoredTokens() {
    window.mdaClearDescopeStorage(); // descope-storage.js
  }

  function showError(msg) {
    errBox.textContent = msg;
    errBox.hidden = false;
  }

  function originOf(u) {
    try {
      return new URL(u, document.baseURI).origin;
    } catch (e) {
      return u || "(none)";
    }
  }

  var project = wc.getAttribute("project-id") || "";
  var flow = wc.getAttribute("flow-id") || "";
  var api = wc.getAttribute("base-url") || "Descope's API";
  var here = window.location.origin;
  var approved = "Is " + here + " one of the project's approved domains (Descope console → Project Settings → Approved Domains)?";
  var projectCheck = "Is DESCOPE_PROJECT_ID (" + project + ") the project ID the Descope console shows under Project Settings?";
  var flowCheck = "Does the project have a flow with the ID " + flow + " (DESCOPE_FLOW_ID, or DESCOPE_ADMIN_FLOW_ID for the admin pages)?";
  var consoleCheck = "The browser's developer console names what failed and what the page's security policy blocked.";

  // explain replaces the empty card with what went wrong and what to check.
  function explain(title, text, checks) {
    document.getElementById("mda-problem-title").textContent = title;
    document.getElementById("mda-problem-text").textContent = text;
    var list = document.getElementById("mda-problem-checks");
    list.textContent = "";
    checks.forEach(function (c) {
      var li = document.createElement("li");
      li.textContent = c;
      list.appendChild(li);
    });
    problem.hidden = false;
    document.body.setAttribute("data-sign-in", "failed");
  }

  function ready() {
    started = true;
    problem.hidden = true;
    document.body.setAttribute("data-sign-in", "ready");
  }

  // The script never defined the element: blocked by the network, a proxy,
  // an extension or the page's security policy, or a wrong URL.
  if (!window.customElements || !window.customElements.get("descope-wc")) {
    var from = originOf(cfg.componentUrl);
    explain("The sign-in form could not be loaded",
      "Your browser could not load Descope's sign-in component from " + from + ".",
      ["Can this browser reach " + from + "? A proxy, a firewall or a browser extension may block it.",
        "Is DESCOPE_WEB_COMPONENT_URL (or DESCOPE_WEB_COMPONENT_VERSION) right? The page loads " + cfg.componentUrl + ".",
        consoleCheck]);
    return;
  }

  // The real component reports a flow it cannot find only in its log:
  // listen there (levels the page does not need go to the console as
  // before).
  wc.logger = {
    error: function (title, description) {
      console.error("[Descope]", title, description || "");
      if (!started && /config file/i.test(String(title))) {
        explain("Descope does not know this sign-in flow",
          "Descope's sign-in component could not load the flow " + flow + " of project " + project + ".",
          [projectCheck, flowCheck,
            "If you host Descope's flow files yourself, is DESCOPE_BASE_STATIC_URL right?", consoleCheck]);
      }
    },
    warn: function () { console.warn.apply(console, ["[Descope]"].concat([].slice.call(arguments))); },
    info: function () { },
    debug: function () { }
  };

  wc.addEventListener("ready", ready);

  var timer = setTimeout(function () {
    if (!started && problem.hidden) {
      explain("The sign-in form has not started",
        "Descope's sign-in component loaded, but it has not shown its form after " + (startTimeout / 1000) + " seconds. This message goes away if the form appears.",
        ["Can this browser reach " + originOf(api) + "?", approved, projectCheck, flowCheck, consoleCheck]);
    }
  }, startTimeout);

  wc.addEventListener("success", function (e) {
    clearTimeout(timer);
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
    if (!started) {
      // Before any form: Descope refused to start the flow.
      var said = [d.errorDescription, d.errorMessage].filter(Boolean).join(": ") || "no reason given";
      explain("Descope refused to start sign-in",
        "Descope answered: " + said + (d.errorCode ? " (" + d.errorCode + ")" : "") + ".",
        [approved, projectCheck, flowCheck, consoleCheck]);
      return;
    }
    showError("Sign-in failed" + (d.errorDescription ? ": " + d.errorDescription : "."));
  });
})();
