// Stand-in for the Descope web component, served by descope-sim.
// It defines <descope-wc project-id flow-id [base-url] [tenant]>, renders a
// one-field sign-in form in light DOM, and on submit asks the simulator to
// sign the login ID in. Like the real component it stores DS and DSR in
// localStorage and dispatches "success" (detail: sessionJwt, refreshJwt,
// cookie fields, user, firstSeen, sessionExpiration), "error" (detail:
// errorCode, errorDescription, errorMessage) and "ready".
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

  function emit(host, name, detail) {
    host.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true, composed: true }));
  }

  class DescopeWc extends HTMLElement {
    connectedCallback() {
      if (this._rendered) {
        return;
      }
      this._rendered = true;
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
      // Like the real component, which fetches its flow first, "ready"
      // comes asynchronously: after the document has parsed, so listeners
      // added by later scripts see it.
      var fire = function () { setTimeout(function () { emit(host, "ready", {}); }, 0); };
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", fire, { once: true });
      } else {
        fire();
      }
    }

    _signIn(loginId, button, message) {
      var host = this;
      var base = (this.getAttribute("base-url") || defaultBase).replace(/\/+$/, "");
      var body = {
        loginId: loginId,
        projectId: this.getAttribute("project-id") || "",
        flowId: this.getAttribute("flow-id") || "",
        tenant: this.getAttribute("tenant") || ""
      };
      button.disabled = true;
      message.hidden = true;
      fetch(base + "/sim/flow/sign-in", {
        method: "POST",
        mode: "cors",
        // As the real component: cookies Descope sets in cookie mode land.
        credentials: "include",
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
            // Like the real component, only the tokens the body carries.
            if (res.data.sessionJwt) { window.localStorage.setItem("DS", res.data.sessionJwt); }
            if (res.data.refreshJwt) { window.localStorage.setItem("DSR", res.data.refreshJwt); }
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
