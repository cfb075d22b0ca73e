// Copy buttons on code blocks. Loaded with `defer` by base.html; no inline script (strict CSP).
(function () {
  "use strict";

  function codeText(pre) {
    var code = pre.querySelector("code") || pre;
    return code.textContent.replace(/\n$/, "");
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a LAN address has no clipboard API: fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function addCopyButtons(root) {
    var blocks = root.querySelectorAll(".lesson-body .highlight:not(.output) > pre");
    blocks.forEach(function (pre) {
      var box = pre.parentElement;
      if (box.querySelector(".copy-button")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy this code");
      var status = document.createElement("span");
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      button.addEventListener("click", function () {
        copy(codeText(pre)).then(function () {
          button.textContent = "Copied";
          button.dataset.copied = "true";
          status.textContent = "Code copied to the clipboard";
        }, function () {
          button.textContent = "Select and copy";
          status.textContent = "Copying was refused; select the code and copy it by hand";
        });
        window.setTimeout(function () {
          button.textContent = "Copy";
          delete button.dataset.copied;
          status.textContent = "";
        }, 2000);
      });
      box.appendChild(button);
      box.appendChild(status);
    });
  }

  // A code block that scrolls sideways (or up and down) must be reachable by keyboard, so
  // keyboard users can scroll it: any app's <pre> that overflows becomes a Tab stop.
  function focusableScrollers(root) {
    var scope = root.querySelectorAll ? root : document;
    scope.querySelectorAll("pre:not([tabindex])").forEach(function (pre) {
      if (pre.scrollWidth > pre.clientWidth + 1 || pre.scrollHeight > pre.clientHeight + 1) {
        pre.setAttribute("tabindex", "0");
      }
    });
  }

  function ready() {
    addCopyButtons(document);
    focusableScrollers(document);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    addCopyButtons(event.target);
    focusableScrollers(event.target);
  });
  document.addEventListener("htmx:afterSettle", function (event) { focusableScrollers(event.target); });
  window.addEventListener("resize", function () { focusableScrollers(document); });
})();
