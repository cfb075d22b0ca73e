// One event stream per browser for every live embed (learnsite/multiplex.py).
//
// A browser opens at most six HTTP/1.1 connections to a host, and each EventSource holds
// one: with six streaming tabs the seventh page would never load. So the embeds' streams
// (live boards, chat rooms, playground panels, consoles) are SiteStreams.EventSource
// objects, which look like an EventSource to their embed but share one stream: through
// a SharedWorker for every tab of the browser (static/js/streams-worker.js), or, where
// SharedWorker does not exist, one per tab. htmx's SSE extension gets them through
// htmx.createEventSource. A tab hidden for HIDDEN_CLOSE_MS gives its streams up and
// takes them again when it is shown.
(function () {
  "use strict";

  // A page may set window.SITE_STREAMS_HIDDEN_MS before this runs (the browser tests do).
  var HIDDEN_CLOSE_MS = typeof window.SITE_STREAMS_HIDDEN_MS === "number" ? window.SITE_STREAMS_HIDDEN_MS : 30000;
  var RECONNECT_MS = 3000;
  var PING_MS = 10000;
  var SHARED = [
    /^\/live\/[^/]+\/stream$/,
    /^\/sandbox\/stream\/$/,
    /^\/sandbox\/chat\/[^/]+\/events\/$/,
    /^\/sandbox\/console\/stream\/$/
  ];
  var NativeEventSource = window.EventSource;
  var script = document.currentScript;
  var muxUrl = (script && script.dataset.mux) || "/streams/";
  var workerUrl = script && script.dataset.worker;

  // --- the transport: a SharedWorker's port, or a hub in this page -------------------
  var transport = null;
  var handlers = new Map(); // subscription id -> SharedSource
  var nextId = 1;

  function deliver(message) {
    var source = handlers.get(message.id);
    if (source) { source._receive(message); }
  }

  function makeTransport() {
    if (typeof window.SharedWorker === "function" && workerUrl) {
      try {
        var worker = new SharedWorker(workerUrl, { name: "site-streams" });
        worker.port.onmessage = function (event) { deliver(event.data); };
        worker.port.start();
        worker.port.postMessage({ op: "hello", mux: muxUrl });
        if (navigator.locks && typeof navigator.locks.request === "function") {
          // A lock this tab holds until it is gone: the worker waits for it, and so learns
          // at once that a tab closed (no event tells a SharedWorker that).
          var lock = "site-streams-tab-" + Math.random().toString(36).slice(2) + Date.now();
          navigator.locks.request(lock, function () {
            worker.port.postMessage({ op: "lock", name: lock });
            return new Promise(function () {});
          });
        }
        setInterval(function () { worker.port.postMessage({ op: "ping" }); }, PING_MS);
        return { post: function (m) { worker.port.postMessage(m); }, shared: true };
      } catch (err) {
        /* fall through to one stream for this tab */
      }
    }
    if (typeof window.StreamsHub !== "function") { return null; }
    var hub = new window.StreamsHub(muxUrl, NativeEventSource);
    var tab = hub.connect(function (m) { setTimeout(function () { deliver(m); }, 0); });
    return { post: function (m) { hub.receive(tab, m); }, shared: false };
  }

  function post(message) {
    if (transport === null) { transport = makeTransport(); }
    if (transport) { transport.post(message); }
  }

  function shareable(url) {
    var parsed;
    try { parsed = new URL(url, window.location.href); } catch (err) { return null; }
    if (parsed.origin !== window.location.origin) { return null; }
    for (var i = 0; i < SHARED.length; i++) {
      if (SHARED[i].test(parsed.pathname)) { return parsed.pathname + parsed.search; }
    }
    return null;
  }

  // --- what an embed holds: an EventSource look-alike ----------------------------------
  function SharedSource(url, path, element) {
    var target = document.createDocumentFragment(); // an EventTarget every browser has
    this._target = target;
    this.url = new URL(url, window.location.href).href;
    this.withCredentials = false;
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this._path = path;
    this._id = null;
    this._retry = null;
    this._suspended = false;
    this._unseen = false;
    live.add(this);
    if (element && typeof window.IntersectionObserver === "function") {
      // Opened when its embed first scrolls into view, not before.
      var self = this;
      this._unseen = true;
      var observer = new IntersectionObserver(function (entries) {
        if (!entries.some(function (entry) { return entry.isIntersecting; })) { return; }
        observer.disconnect();
        self._unseen = false;
        if (self.readyState === 0 && self._id === null && !self._suspended) { self._subscribe(); }
      }, { rootMargin: "200px" });
      observer.observe(element);
    }
    if (hiddenLongEnough) { this._suspended = true; } else if (!this._unseen) { this._subscribe(); }
  }
  SharedSource.CONNECTING = 0;
  SharedSource.OPEN = 1;
  SharedSource.CLOSED = 2;
  SharedSource.prototype.CONNECTING = 0;
  SharedSource.prototype.OPEN = 1;
  SharedSource.prototype.CLOSED = 2;

  SharedSource.prototype.addEventListener = function (type, fn, options) {
    this._target.addEventListener(type, fn, options);
  };
  SharedSource.prototype.removeEventListener = function (type, fn, options) {
    this._target.removeEventListener(type, fn, options);
  };
  SharedSource.prototype.dispatchEvent = function (event) {
    var handler = this["on" + event.type];
    if (typeof handler === "function" && ["open", "message", "error"].indexOf(event.type) >= 0) {
      handler.call(this, event);
    }
    return this._target.dispatchEvent(event);
  };

  SharedSource.prototype._subscribe = function () {
    this._id = nextId++;
    handlers.set(this._id, this);
    post({ op: "sub", id: this._id, url: this._path });
  };
  SharedSource.prototype._unsubscribe = function () {
    if (this._id === null) { return; }
    handlers.delete(this._id);
    post({ op: "unsub", id: this._id });
    this._id = null;
  };

  SharedSource.prototype._receive = function (message) {
    if (this.readyState === 2) { return; }
    if (message.op === "open") {
      this.readyState = 1;
      this.dispatchEvent(new Event("open"));
    } else if (message.op === "event") {
      if (this.readyState !== 1) {
        this.readyState = 1;
        this.dispatchEvent(new Event("open"));
      }
      var type = message.e || "message";
      this.dispatchEvent(new MessageEvent(type, { data: message.d, origin: window.location.origin }));
    } else if (message.op === "lost") {
      this.readyState = 0;
      this.dispatchEvent(new Event("error"));
    } else if (message.op === "end") {
      this._unsubscribe();
      if (message.why && message.why !== "ended") {
        // Refused, as a stream of its own answers a refusal: closed for good.
        this.readyState = 2;
        live.delete(this);
        this.dispatchEvent(new Event("error"));
        return;
      }
      // The server ended it: like an EventSource, connect again after a while.
      this.readyState = 0;
      this.dispatchEvent(new Event("error"));
      var self = this;
      if (this.readyState === 0) {
        this._retry = setTimeout(function () {
          self._retry = null;
          if (self.readyState === 0 && !self._suspended) { self._subscribe(); }
        }, RECONNECT_MS);
      }
    }
  };

  SharedSource.prototype.close = function () {
    this.readyState = 2;
    if (this._retry !== null) { clearTimeout(this._retry); this._retry = null; }
    this._unsubscribe();
    live.delete(this);
  };

  // --- hidden tabs give their streams up -----------------------------------------------
  var live = new Set();
  var hiddenTimer = null;
  var hiddenLongEnough = false;

  function suspendAll() {
    hiddenLongEnough = true;
    live.forEach(function (source) {
      source._suspended = true;
      source._unsubscribe();
    });
  }
  function resumeAll() {
    hiddenLongEnough = false;
    live.forEach(function (source) {
      if (!source._suspended) { return; }
      source._suspended = false;
      if (source.readyState !== 2 && source._id === null && source._retry === null && !source._unseen) {
        source._subscribe();
      }
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (hiddenTimer === null) {
        hiddenTimer = setTimeout(function () { hiddenTimer = null; suspendAll(); }, HIDDEN_CLOSE_MS);
      }
    } else {
      if (hiddenTimer !== null) { clearTimeout(hiddenTimer); hiddenTimer = null; }
      resumeAll();
    }
  });
  window.addEventListener("pagehide", function () {
    live.forEach(function (source) { source._unsubscribe(); source._suspended = true; });
    if (transport && transport.shared) { transport.post({ op: "bye" }); transport = null; }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { resumeAll(); }
  });

  // --- the one way embeds open a stream ------------------------------------------------
  // options.element: open the stream once that element scrolls into view.
  function open(url, options) {
    var path = shareable(url);
    if (path === null || typeof NativeEventSource !== "function") {
      return new NativeEventSource(url, options && options.withCredentials ? { withCredentials: true } : undefined);
    }
    return new SharedSource(url, path, options && options.element);
  }

  window.SiteStreams = {
    open: open,
    EventSource: SharedSource,
    HIDDEN_CLOSE_MS: HIDDEN_CLOSE_MS,
    shared: function () { return transport !== null && transport.shared; }
  };
  if (window.htmx) {
    // htmx's SSE extension opens its streams through this hook (it keeps one set here).
    window.htmx.createEventSource = function (url) { return open(url, { withCredentials: true }); };
  }
})();
