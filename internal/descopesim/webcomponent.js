// Stand-in for the Descope web component, served by descope-sim.
// It defines <descope-wc project-id flow-id [base-url] [base-static-url]
// [tenant]> and starts like the real component: it loads the flow's
// config.json from the static files ({base-static-url}, else
// {base-url}/pages), and on failure logs "Cannot get config file" and shows
// nothing, as the real one does for a wrong project or flow ID; it then
// starts the flow at /v1/flow/start, whose refusal (an origin the project has
// not approved, say) it reports as an "error" event before any form. Then it
// renders a one-field sign-in form in light DOM and on submit asks the
// simulator to sign the login ID in. Like the real component it stores DS and
// DSR in localStorage and dispatches "success" (detail: sessionJwt,
// refreshJwt, cookie fields, user, firstSeen, sessionExpiration), "error"
// (detail: errorCode, errorDescription, errorMessage) and "ready". Its
// `logger` property takes {error, warn, info, debug} as the real one's does.
(function () {
  "use strict";
  if (!window.customElements || window.customElements.get("descope-wc")) {
    return;
  }

  function scriptOrigin() {
    var el = document.currentScript;
    if (!el || !el.src) {
      el = document.querySelector('script[src*="web-component"]');
    }
    try {
      return new URL(el.src, document.baseURI).origin;
    } catch (e) {
      return window.location.origin;
    }
  }

  var defaultBase = scriptOrigin();
  var levels = ["error", "warn", "info", "debug"];
  var consoleLogger = {
    error: console.error.bind(console, "[Descope]"),
    warn: console.warn.bind(console, "[Descope]"),
    info: console.info.bind(console, "[Descope]"),
    debug: console.debug.bind(console, "[Descope]")
  };

  function emit(host, name, detail) {
    host.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true, composed: true }));
  }

  function trimSlash(s) { return s.replace(/\/+$/, ""); }

  class DescopeWc extends HTMLElement {
    constructor() {
      super();
      this.logger = null;
    }

    // As the real component: a logger given here receives every log line;
    // levels it lacks are dropped.
    set logger(l) {
      var given = l || consoleLogger;
      var out = {};
      levels.forEach(function (n) {
        out[n] = function () { if (typeof given[n] === "function") { given[n].apply(given, arguments); } };
      });
      this._logger = out;
    }

    get logger() { return this._logger; }

    connectedCallback() {
      if (this._started) {
        return;
      }
      this._started = true;
      var host = this;
      // The real component fetches its flow first, so "ready" and "error"
      // come asynchronously: after the document has parsed, so listeners
      // (and a logger) set by later scripts see them.
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", function () { host._start(); }, { once: true });
      } else {
        setTimeout(function () { host._start(); }, 0);
      }
    }

    _base() {
      return trimSlash(this.getAttribute("base-url") || defaultBase);
    }

    _start() {
      var host = this;
      var project = this.getAttribute("project-id") || "";
      var statics = trimSlash(this.getAttribute("base-static-url") || (this._base() + "/pages"));
      fetch(statics + "/" + encodeURIComponent(project) + "/v2-beta/config.json", { cache: "default" })
        .then(function (res) {
          if (!res.ok) { throw new Error("status " + res.status); }
          return res.json();
        })
        .then(function () { host._startFlow(project); }, function () {
          host.logger.error("Cannot get config file", "Make sure that your projectId & flowId are correct");
        });
    }

    _startFlow(project) {
      var host = this;
      fetch(this._base() + "/v1/flow/start", {
        method: "POST",
        mode: "cors",
        credentials: "include",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + project, "x-descope-sdk-name": "web-component" },
        body: JSON.stringify({ flowId: this.getAttribute("flow-id") || "", options: { location: window.location.href, tenant: this.getAttribute("tenant") || "" } })
      })
        .then(function (resp) {
          return resp.json().then(
            function (data) { return { ok: resp.ok, data: data }; },
            function () { return { ok: false, data: { errorCode: "E" + resp.status, errorDescription: resp.statusText } }; }
          );
        })
        .then(function (res) {
          if (!res.ok) {
            host._refused(res.data);
            return;
          }
          host._render();
        })
        .catch(function (err) {
          host._refused({ errorCode: "J151000", errorDescription: "Flow start failed", errorMessage: String(err && err.message || err) });
        });
    }

    _refused(data) {
      var detail = {
        errorCode: (data && data.errorCode) || "E000000",
        errorDescription: (data && data.errorDescription) || "Flow start failed",
        errorMessage: (data && data.errorMessage) || ""
      };
      this.logger.error(detail.errorDescription, detail.errorMessage);
      emit(this, "error", detail);
    }

    _render() {
      var form = document.createElement("form");
      form.className = "descope-sim-form";
      form.noValidate = true;

      var label = document.createElement("label");
      label.htmlFor = "descope-login-id";
      label.textContent = "Email or login ID";

      var input = document.createElement("input");
      input.id = "descope-login-id";
      input.name = "loginId";
      input.type = "text";
      input.autocomplete = "username";

      var button = document.createElement("button");
      button.id = "descope-submit";
      button.type = "submit";
      button.textContent = "Continue";

      var message = document.createElement("p");
      message.className = "descope-sim-error";
      message.setAttribute("role", "alert");
      message.hidden = true;

      form.append(label, input, button, message);
      this.append(form);

      var host = this;
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        host._signIn(input.value, button, message);
      });
      emit(host, "ready", {});
    }

    _signIn(loginId, button, message) {
      var host = this;
      var body = {
        loginId: loginId,
        projectId: this.getAttribute("project-id") || "",
        flowId: this.getAttribute("flow-id") || "",
        tenant: this.getAttribute("tenant") || ""
      };
      button.disabled = true;
      message.hidden = true;
      fetch(this._base() + "/sim/flow/sign-in", {
        method: "POST",
        mode: "cors",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      })
        .then(function (resp) {
          return resp.json().then(
            function (data) { return { ok: resp.ok, data: data }; },
            function () { return { ok: false, data: { errorCode: "E" + resp.status, errorDescription: resp.statusText } }; }
          );
        })
        .then(function (res) {
          button.disabled = false;
          if (!res.ok) {
            host._fail(res.data, message);
            return;
          }
          try {
            window.localStorage.setItem("DS", res.data.sessionJwt || "");
            window.localStorage.setItem("DSR", res.data.refreshJwt || "");
          } catch (e) {
            // storage may be unavailable; the event still carries the tokens
          }
          emit(host, "success", res.data);
        })
        .catch(function (err) {
          button.disabled = false;
          host._fail({ errorCode: "E000000", errorDescription: String(err && err.message || err) }, message);
        });
    }

    _fail(data, message) {
      var detail = {
        errorCode: (data && data.errorCode) || "E000000",
        errorDescription: (data && data.errorDescription) || "Sign-in failed",
        errorMessage: (data && data.errorMessage) || ""
      };
      message.textContent = detail.errorDescription;
      message.hidden = false;
      emit(this, "error", detail);
    }
  }

  window.customElements.define("descope-wc", DescopeWc);
})();
