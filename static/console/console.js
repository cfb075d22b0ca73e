/* The Redis console: command line with history, live subscriptions over SSE, "Run" buttons
   on Redis blocks in lessons, predictions' error display and the Streams-vs-pub/sub demo.
   Everything a server or learner sends is shown with textContent, never as HTML. */
(function () {
  "use strict";

  // The commands the console runs and its URLs, rendered by the server from the allow-list
  // (console/commands.py) into every page, so this file never keeps a copy of its own.
  function readConfig() {
    var node = document.getElementById("console-config");
    try { return node ? JSON.parse(node.textContent) : null; } catch (e) { return null; }
  }
  var CONFIG = readConfig() || { commands: [], run: "", stream: "" };
  var COMMAND_LINE = new RegExp("^(" + CONFIG.commands.join("|") + ")(\\s|$)");
  var PROMPT = /^(?:redis>|[\w.-]*:\d+>)\s*/;
  var READY_WAIT_MS = 6000;

  // Subscriptions share the page's one stream (static/js/streams.js) where it is loaded.
  function openStream(url) {
    return window.SiteStreams ? window.SiteStreams.open(url) : new EventSource(url);
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": csrfToken(),
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: new URLSearchParams(data)
    }).then(function (response) {
      return response.json().then(
        function (json) { return { status: response.status, json: json }; },
        function () { return { status: response.status, json: null }; }
      );
    }, function () {
      return { status: 0, json: null };
    });
  }

  /* One console's connection: the protocol it speaks (RESP2 until HELLO 3, like redis-cli;
     a reload is a new connection, as redis-cli reconnecting is), the subscriptions it holds
     and the stream that holds them. */
  function Session(runUrl, streamUrl, print, onChange) {
    this.runUrl = runUrl;
    this.streamUrl = streamUrl;
    this.print = print;
    this.onChange = onChange || function () {};
    this.protocol = 2;
    this.channels = [];
    this.patterns = [];
    this.shards = [];
    this.source = null;
  }

  Session.prototype.subscribed = function () {
    return Boolean(this.channels.length || this.patterns.length || this.shards.length);
  };

  Session.prototype.forget = function () {
    this.channels = [];
    this.patterns = [];
    this.shards = [];
  };

  Session.prototype.run = function (line) {
    var self = this;
    return post(this.runUrl, {
      line: line,
      protocol: String(this.protocol),
      channels: JSON.stringify(this.channels),
      patterns: JSON.stringify(this.patterns),
      shards: JSON.stringify(this.shards)
    }).then(function (res) {
      if (!res.json) {
        self.print("(error) The site did not answer; check your connection and try again.", "error");
        return;
      }
      var output = String(res.json.output || "");
      var failed = res.status >= 400 || output.indexOf("(error)") === 0;
      self.print(output, failed ? "error" : "reply");
      if (res.json.protocol === 2 || res.json.protocol === 3) {
        self.protocol = res.json.protocol;
        self.onChange(self);
      }
      if (Array.isArray(res.json.channels)) {
        self.channels = res.json.channels;
        self.patterns = res.json.patterns || [];
        self.shards = res.json.shards || [];
        return self.reconnect();
      }
    });
  };

  Session.prototype.reconnect = function () {
    var self = this;
    var old = this.source;
    this.onChange(this);
    if (!this.subscribed()) {
      if (old) { old.close(); }
      this.source = null;
      this.onChange(this);
      return Promise.resolve();
    }
    var params = new URLSearchParams();
    this.channels.forEach(function (c) { params.append("c", c); });
    this.patterns.forEach(function (p) { params.append("p", p); });
    this.shards.forEach(function (s) { params.append("s", s); });
    var source = openStream(this.streamUrl + "?" + params.toString());
    this.source = source;
    source.addEventListener("message", function (event) { self.print(event.data, "message"); });
    ["down", "expired"].forEach(function (name) {
      source.addEventListener(name, function (event) {
        self.print(event.data, name === "down" ? "error" : "note");
        source.close();
        if (self.source === source) {
          self.source = null;
          self.forget();
          self.onChange(self);
        }
      });
    });
    return new Promise(function (resolve) {
      var finished = false;
      function done() {
        if (finished) { return; }
        finished = true;
        if (old && old !== source) { old.close(); }
        self.onChange(self);
        resolve();
      }
      source.addEventListener("ready", done);
      source.addEventListener("error", function () {
        // A refused stream (e.g. too many open consoles) is closed for good; a dropped one
        // is retried by the browser, and Redis confirms the subscriptions again.
        if (source.readyState !== EventSource.CLOSED || self.source !== source) { return; }
        self.print("(error) The subscription stream could not be opened: close other " +
          "listening consoles or reload the page, then SUBSCRIBE again.", "error");
        self.source = null;
        self.forget();
        done();
      });
      window.setTimeout(done, READY_WAIT_MS);
    });
  };

  Session.prototype.describe = function () {
    var parts = [];
    if (this.channels.length) { parts.push("channels " + this.channels.join(", ")); }
    if (this.patterns.length) { parts.push("patterns " + this.patterns.join(", ")); }
    if (this.shards.length) { parts.push("shard channels " + this.shards.join(", ")); }
    if (!parts.length) { return "Not subscribed."; }
    return (this.source ? "Listening to " : "Connecting to ") + parts.join("; ") + ".";
  };

  function makePrinter(log) {
    return function (text, kind) {
      var entry = document.createElement("div");
      entry.className = "console-entry console-" + (kind || "reply");
      entry.textContent = text;
      log.appendChild(entry);
      log.scrollTop = log.scrollHeight;
    };
  }

  function setupConsole(root) {
    if (root.dataset.ready) { return; }
    root.dataset.ready = "1";
    var log = root.querySelector("[data-console-log]");
    var form = root.querySelector("[data-console-form]");
    var input = root.querySelector("[data-console-input]");
    var subs = root.querySelector("[data-console-subs]");
    var proto = root.querySelector("[data-console-protocol]");
    var protoHint = root.querySelector("[data-console-protocol-hint]");
    var print = makePrinter(log);
    var session = new Session(root.dataset.runUrl, root.dataset.streamUrl, print, function (s) {
      subs.textContent = s.describe();
      root.dataset.subscribed = s.source ? "1" : "";
      root.dataset.protocol = String(s.protocol);
      if (proto) { proto.textContent = "RESP" + s.protocol; }
      if (protoHint) {
        protoHint.textContent = s.protocol === 3 ?
          "(like redis-py 8; HELLO 2 switches back)" : "(like redis-cli; HELLO 3 switches to RESP3)";
      }
    });
    print("Your own Redis namespace: type HELP to list the commands, HELP <command> for one. " +
      "This connection speaks RESP2, like redis-cli; HELLO 3 switches it to RESP3.", "hint");
    var history = [];
    var position = 0;
    var draft = "";
    var queue = Promise.resolve();
    var pending = 0;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var line = input.value;
      if (!line.trim()) { return; }
      if (history[history.length - 1] !== line) { history.push(line); }
      position = history.length;
      draft = "";
      input.value = "";
      if (pending) {
        // A blocking command (BRPOP, XREAD BLOCK) may hold the line for a few seconds.
        print("(queued) " + line + ": runs as soon as the command before it answers.", "hint");
      }
      pending += 1;
      root.setAttribute("aria-busy", "true");
      queue = queue.then(function () {
        print("redis> " + line, "command");
        return session.run(line);
      }).then(function () {
        pending -= 1;
        if (!pending) { root.removeAttribute("aria-busy"); }
      });
    });

    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowUp") {
        if (!history.length || position === 0) { return; }
        if (position === history.length) { draft = input.value; }
        position -= 1;
        input.value = history[position];
        event.preventDefault();
      } else if (event.key === "ArrowDown") {
        if (position >= history.length) { return; }
        position += 1;
        input.value = position === history.length ? draft : history[position];
        event.preventDefault();
      }
    });
  }

  /* ---- Run buttons on ```redis blocks in lessons ---------------------------------------- */

  function runnableLines(text) {
    var lines = text.split("\n").map(function (l) { return l.trim(); });
    var prompted = lines.filter(function (l) { return PROMPT.test(l); });
    if (prompted.length) {
      lines = prompted.map(function (l) { return l.replace(PROMPT, ""); });
    }
    lines = lines.filter(function (l) { return l && l.charAt(0) !== "#"; });
    if (!lines.length || !lines.every(function (l) { return COMMAND_LINE.test(l); })) {
      return null;
    }
    return lines;
  }

  function isMarkedRedis(block) {
    return Boolean(block.closest(".language-redis, [data-lang='redis']")) ||
      Boolean(block.querySelector("code.language-redis"));
  }

  function setupBlock(pre, block, runUrl, streamUrl) {
    if (block.dataset.redisRunnable) { return; }
    var lines = runnableLines(pre.textContent || "");
    if (!lines && !isMarkedRedis(block)) { return; }
    lines = lines || [];
    if (!lines.length) { return; }
    block.dataset.redisRunnable = "1";
    var bar = document.createElement("div");
    bar.className = "redis-run-bar";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "redis-run";
    button.textContent = lines.length > 1 ? "Run these commands" : "Run this command";
    var output = document.createElement("div");
    output.className = "console-log redis-run-output";
    output.setAttribute("role", "log");
    output.setAttribute("aria-live", "polite");
    output.setAttribute("aria-label", "Output of the commands above");
    output.hidden = true;
    bar.appendChild(button);
    block.insertAdjacentElement("afterend", bar);
    bar.insertAdjacentElement("afterend", output);
    var print = makePrinter(output);
    var session = new Session(runUrl, streamUrl, print);
    button.addEventListener("click", function () {
      output.hidden = false;
      button.disabled = true;
      var chain = Promise.resolve();
      lines.forEach(function (line) {
        chain = chain.then(function () {
          print("redis> " + line, "command");
          return session.run(line);
        });
      });
      chain.then(function () {
        button.disabled = false;
        button.textContent = "Run again";
      });
    });
  }

  function setupBlocks() {
    var anyConsole = document.querySelector("[data-console]");
    var runUrl = anyConsole ? anyConsole.dataset.runUrl : CONFIG.run;
    var streamUrl = anyConsole ? anyConsole.dataset.streamUrl : CONFIG.stream;
    if (!CONFIG.commands.length) { return; }
    var scope = document.querySelector("main") || document.body;
    scope.querySelectorAll(".highlight pre, pre.language-redis, pre > code.language-redis")
      .forEach(function (node) {
        var pre = node.tagName === "CODE" ? node.parentElement : node;
        if (pre.closest("[data-console], .embed, .predict-result, .output")) { return; }
        setupBlock(pre, pre.closest(".highlight") || pre, runUrl, streamUrl);
      });
  }

  /* ---- Lesson 5: pub/sub beside a Streams consumer group -------------------------------- */

  function setupStreamsDemo(root) {
    if (root.dataset.ready) { return; }
    root.dataset.ready = "1";
    var stepUrl = root.dataset.stepUrl; // ends in /state/
    var q = function (sel) { return root.querySelector(sel); };
    var status = q("[data-demo-status]");
    var toggle = q("[data-demo-toggle]");
    var online = true;
    var source = null;

    function item(list, text) {
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    function fill(list, rows) {
      list.replaceChildren();
      rows.forEach(function (row) { item(list, row[1] + "  (" + row[0] + ")"); });
    }
    function listen() {
      var state = q("[data-demo-pubsub-state]");
      var ready = new Promise(function (resolve) {
        var mine = openStream(root.dataset.streamUrl + "?c=" + encodeURIComponent("demo:orders"));
        source = mine;
        // "Online" only once Redis has confirmed the subscription (the stream's "ready"):
        // an order sent before that is not heard, and the page must not say otherwise.
        mine.addEventListener("ready", function () {
          if (source === mine) { state.textContent = "Online: subscribed to demo:orders."; }
          resolve();
        });
        mine.addEventListener("message", function (event) {
          var match = /^3\) "(.*)"$/m.exec(event.data);
          item(q("[data-demo-pubsub-received]"), match ? match[1] : event.data);
        });
        mine.addEventListener("down", function (event) {
          status.textContent = event.data;
          mine.close();
        });
        window.setTimeout(function () {
          if (source === mine && !/^Online/.test(state.textContent)) {
            state.textContent = "Connecting: Redis has not confirmed the subscription to " +
              "demo:orders yet.";
          }
          resolve();
        }, READY_WAIT_MS);
      });
      return ready;
    }
    function showState(state) {
      q("[data-demo-stream-state]").textContent = online ?
        "Online: reads new entries with XREADGROUP … >" : "Offline: not reading.";
      (state.delivered || []).forEach(function (row) {
        item(q("[data-demo-stream-received]"), row[1] + "  (" + row[0] + ")");
      });
      fill(q("[data-demo-pending]"), state.pending || []);
      q("[data-demo-waiting]").textContent = state.waiting ?
        state.waiting + " entr" + (state.waiting === 1 ? "y is" : "ies are") +
        " waiting in the stream for this group: the consumer gets them when it comes back." :
        "Nothing is waiting in the stream for this group.";
      var log = q("[data-demo-log]");
      if ((state.log || []).length) {
        log.textContent = (log.textContent ? log.textContent + "\n" : "") + state.log.join("\n");
      }
    }
    function step(action) {
      var url = stepUrl.replace(/state\/$/, action + "/");
      return post(url, { online: online ? "1" : "0" }).then(function (res) {
        if (!res.json || res.json.error) {
          status.textContent = (res.json && res.json.error) || "The site did not answer; try again.";
          return null;
        }
        var state = res.json;
        if (action === "send") {
          status.textContent = "Sent " + state.sent + ": PUBLISH reached " + state.published_to +
            " subscriber" + (state.published_to === 1 ? "" : "s") + "; XADD stored it in the stream.";
          if (!state.published_to) { item(q("[data-demo-missed]"), state.sent); }
        } else if (action === "ack") {
          status.textContent = "Acknowledged: the pending list is empty again.";
        } else if (action === "reset") {
          ["[data-demo-pubsub-received]", "[data-demo-missed]", "[data-demo-stream-received]"]
            .forEach(function (sel) { q(sel).replaceChildren(); });
          q("[data-demo-log]").textContent = "";
          status.textContent = "Started over with an empty stream.";
        } else if (action === "online") {
          status.textContent = "Back online. The consumer group delivered " +
            (state.delivered || []).length + " entries it kept while the consumer was away; " +
            "pub/sub has nothing to give back.";
        }
        showState(state);
        root.dataset.lastAction = action;
        return state;
      });
    }
    root.querySelectorAll("[data-demo-action]").forEach(function (button) {
      button.addEventListener("click", function () { step(button.dataset.demoAction); });
    });
    toggle.addEventListener("click", function () {
      online = !online;
      toggle.setAttribute("aria-pressed", online ? "false" : "true");
      toggle.textContent = online ? "Take both readers offline" : "Bring both readers back online";
      if (online) {
        listen().then(function () { return step("online"); });
      } else {
        if (source) { source.close(); source = null; }
        q("[data-demo-pubsub-state]").textContent = "Offline: not subscribed to anything.";
        status.textContent = "Both readers are offline. Send a few orders now.";
        step("offline");
      }
    });
    listen().then(function () { return step("state"); }).then(function () {
      root.dataset.demoReady = "1";
    });
  }

  function init() {
    document.querySelectorAll("[data-console]").forEach(setupConsole);
    document.querySelectorAll("[data-streams-demo]").forEach(setupStreamsDemo);
    setupBlocks();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  document.addEventListener("htmx:load", function (event) {
    document.querySelectorAll("[data-console]").forEach(setupConsole);
    focusPredictionAnswer(event.detail && event.detail.elt);
  });

  /* ---- Predict, then run: the box is swapped whole; keyboard and screen-reader focus go to
     what the answer says (the notice of a repeat, the newest try, or the verdict). ------------- */

  function focusPredictionAnswer(element) {
    if (!element || !element.matches || !element.matches("[data-predict][data-locked='true']")) {
      return;
    }
    var tries = element.querySelectorAll(".predict-tries li[data-try]");
    var target = element.querySelector(".predict-notice") ||
      (tries.length ? tries[tries.length - 1] : null) ||
      element.querySelector(".predict-feedback");
    if (target) { target.focus({ preventScroll: false }); }
  }
})();
