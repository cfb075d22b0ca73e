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
      var reset = null;
      function settle(label, said) {
        button.textContent = label;
        status.textContent = said;
        // The label goes back 2 s after the copy settled, not after the click: a slow
        // clipboard must not flip it back before the learner could read it.
        window.clearTimeout(reset);
        reset = window.setTimeout(function () {
          button.textContent = "Copy";
          delete button.dataset.copied;
          status.textContent = "";
        }, 2000);
      }
      button.addEventListener("click", function () {
        copy(codeText(pre)).then(function () {
          button.dataset.copied = "true";
          settle("Copied", "Code copied to the clipboard");
        }, function () {
          settle("Select and copy", "Copying was refused; select the code and copy it by hand");
        });
      });
      box.appendChild(button);
      box.appendChild(status);
    });
  }

  // A code block that scrolls sideways (or up and down) must be reachable by keyboard, so
  // keyboard users can scroll it: any app's <pre> (or a lesson's table) that overflows
  // becomes a Tab stop.
  function focusableScrollers(root) {
    var scope = root.querySelectorAll ? root : document;
    scope.querySelectorAll("pre:not([tabindex]), .table-scroll:not([tabindex])").forEach(function (pre) {
      if (pre.scrollWidth > pre.clientWidth + 1 || pre.scrollHeight > pre.clientHeight + 1) {
        pre.setAttribute("tabindex", "0");
      }
    });
  }

  // A lesson counts as read when its end has come into view after real reading time
  // (a quarter of the estimated reading time), or when the learner presses "Mark as read".
  // The page itself never writes: this sends the same POST as the button.
  var openedAt = Date.now();
  function autoRead(root) {
    var form = root.querySelector ? root.querySelector("form[data-auto-read]") : null;
    if (!form || !("IntersectionObserver" in window)) { return; }
    var minMs = 1000 * (parseInt(form.dataset.minSeconds, 10) || 60);
    var timer = null;
    var observer = new IntersectionObserver(function (entries) {
      var seen = entries.some(function (entry) { return entry.isIntersecting; });
      if (timer) { clearTimeout(timer); timer = null; }
      if (!seen) { return; }
      timer = setTimeout(function () {
        observer.disconnect();
        if (document.body.contains(form)) { form.requestSubmit(); }
      }, Math.max(0, minMs - (Date.now() - openedAt)));
    });
    observer.observe(form);
  }

  // Phones: the site menu folds behind the "Menu" button. The button is hidden in the HTML
  // so that without this script the links simply stay in view; CSS folds the menu only
  // under .menu-ready, and only on narrow screens.
  function siteMenu() {
    var button = document.querySelector(".menu-button[aria-controls]");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) { return; }
    function setOpen(open) { button.setAttribute("aria-expanded", open ? "true" : "false"); }
    button.hidden = false;
    document.documentElement.classList.add("menu-ready");
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || button.getAttribute("aria-expanded") !== "true") { return; }
      if (!menu.contains(document.activeElement) && document.activeElement !== button) { return; }
      setOpen(false);
      button.focus();
    });
  }

  // "On this page" marks the section being read: the last heading (or the practice set)
  // that has scrolled past the top third of the window. An IntersectionObserver says when
  // one crosses that line; the mark is then worked out from where the targets are.
  function currentSection(root) {
    var toc = root.querySelector ? root.querySelector(".toc[data-toc]") : null;
    if (!toc || !("IntersectionObserver" in window)) { return; }
    var links = [];
    toc.querySelectorAll("a[href^='#']").forEach(function (link) {
      var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (target) { links.push({ link: link, target: target }); }
    });
    if (!links.length) { return; }
    var marked = null;
    function update() {
      var line = window.innerHeight / 3;
      var current = links[0];
      links.forEach(function (entry) {
        if (entry.target.getBoundingClientRect().top <= line) { current = entry; }
      });
      if (current === marked) { return; }
      if (marked) { marked.link.removeAttribute("aria-current"); }
      current.link.setAttribute("aria-current", "location");
      marked = current;
    }
    var observer = new IntersectionObserver(update, { rootMargin: "0px 0px -66% 0px" });
    links.forEach(function (entry) { observer.observe(entry.target); });
    update();
  }

  function ready() {
    siteMenu();
    currentSection(document);
    addCopyButtons(document);
    focusableScrollers(document);
    autoRead(document);
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
