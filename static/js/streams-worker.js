// The one event stream of a browser: every tab's embeds share it (see static/js/streams.js).
//
// Loaded as a SharedWorker, it holds the EventSources on /streams/?s=...&s=... (at most
// MAX_STREAMS) for the subscriptions of every tab (learnsite/multiplex.py serves each as
// its own stream) and
// routes each event to the tab and subscription it belongs to. Where SharedWorker does
// not exist, streams.js loads this file in the page and runs the same hub for one tab.
//
// Messages from a tab: {op: "hello", mux}, {op: "lock", name} (a Web Lock the tab holds
// while it lives), {op: "sub", id, url}, {op: "unsub", id}, {op: "bye"}, {op: "ping"}.
// To a tab: {op: "open", id}, {op: "event", id, e, d}, {op: "end", id, why},
// {op: "lost", id} (the shared stream dropped; it reconnects by itself).
(function (scope) {
  "use strict";

  var REOPEN_AFTER_MS = 120; // gather the subscriptions of a page that starts several at once
  var QUIET_TAB_MS = 45000; // a tab that stopped pinging (closed without a word) is dropped

  // At most this many streams at once (each an HTTP/1.1 connection, of the six a browser
  // has per host): new subscriptions get a stream of their own while there are fewer, then
  // join (and restart) the youngest; the older ones carry on undisturbed.
  var MAX_STREAMS = 3;

  function StreamsHub(muxUrl, EventSourceImpl) {
    this.muxUrl = muxUrl;
    this.EventSourceImpl = EventSourceImpl;
    this.subs = new Map(); // key -> {tab, id, url, ended, stream}
    this.streams = []; // {keys, source, dirty}, oldest first
    this.timer = null;
    this.nextTab = 1;
    this.tabs = new Map(); // tab number -> {post, seen}
  }

  StreamsHub.prototype.connect = function (post) {
    var tab = this.nextTab++;
    this.tabs.set(tab, { post: post, seen: Date.now() });
    return tab;
  };

  StreamsHub.prototype.receive = function (tab, message) {
    var info = this.tabs.get(tab);
    if (!info) { return; }
    info.seen = Date.now();
    var key = tab + ":" + message.id;
    if (message.op === "sub" && typeof message.url === "string") {
      this.subs.set(key, { tab: tab, id: message.id, url: message.url, ended: false, stream: null });
      this.schedule();
    } else if (message.op === "unsub") {
      // Given up at once: what the embed held (a subscription, a seat) is let go now.
      if (this.remove(key)) { this.schedule(0); }
    } else if (message.op === "bye") {
      this.forgetTab(tab);
    }
  };

  StreamsHub.prototype.remove = function (key) {
    var sub = this.subs.get(key);
    if (!sub) { return false; }
    this.subs.delete(key);
    if (sub.stream && !sub.ended) { sub.stream.dirty = true; }
    return true;
  };

  StreamsHub.prototype.forgetTab = function (tab) {
    var self = this;
    var changed = false;
    this.tabs.delete(tab);
    Array.from(this.subs.keys()).forEach(function (key) {
      if (self.subs.get(key).tab === tab) { changed = self.remove(key) || changed; }
    });
    if (changed) { this.schedule(0); }
  };

  StreamsHub.prototype.dropQuietTabs = function () {
    var now = Date.now();
    var self = this;
    this.tabs.forEach(function (info, tab) {
      if (now - info.seen > QUIET_TAB_MS) { self.forgetTab(tab); }
    });
  };

  StreamsHub.prototype.tell = function (sub, message) {
    var info = this.tabs.get(sub.tab);
    if (!info) { return; }
    message.id = sub.id;
    try { info.post(message); } catch (err) { this.forgetTab(sub.tab); }
  };

  StreamsHub.prototype.schedule = function (delay) {
    var self = this;
    if (this.timer !== null) { clearTimeout(this.timer); }
    var wait = typeof delay === "number" ? delay : REOPEN_AFTER_MS;
    this.timer = setTimeout(function () { self.timer = null; self.flush(); }, wait);
  };

  // New subscriptions join the youngest stream (a new one while there are fewer than
  // MAX_STREAMS); a stream that lost or gained subscriptions is opened again with the ones
  // it has now (an EventSource cannot change its URL), and each of those starts afresh, as
  // after a reconnect: a live board gets the current state, a console its confirmations.
  StreamsHub.prototype.flush = function () {
    var self = this;
    var pending = [];
    this.subs.forEach(function (sub, key) { if (!sub.stream && !sub.ended) { pending.push(key); } });
    if (pending.length) {
      var target = this.streams.length < MAX_STREAMS ? null : this.streams[this.streams.length - 1];
      if (!target) {
        target = { keys: [], source: null, dirty: true };
        this.streams.push(target);
      }
      pending.forEach(function (key) { self.subs.get(key).stream = target; });
      target.keys = target.keys.concat(pending);
      target.dirty = true;
    }
    this.streams.slice().forEach(function (stream) {
      if (!stream.dirty) { return; }
      stream.dirty = false;
      stream.keys = stream.keys.filter(function (key) {
        var sub = self.subs.get(key);
        return sub && !sub.ended && sub.stream === stream;
      });
      self.open(stream);
    });
  };

  StreamsHub.prototype.open = function (stream) {
    var self = this;
    if (stream.source) { stream.source.close(); stream.source = null; }
    if (!stream.keys.length) {
      this.streams = this.streams.filter(function (s) { return s !== stream; });
      return;
    }
    var params = new URLSearchParams();
    stream.keys.forEach(function (key) { params.append("s", self.subs.get(key).url); });
    var order = stream.keys.slice();
    var source = new this.EventSourceImpl(this.muxUrl + "?" + params.toString());
    stream.source = source;
    function each(fn) {
      order.forEach(function (key) {
        var sub = self.subs.get(key);
        if (sub && !sub.ended && sub.stream === stream) { fn(sub); }
      });
    }
    source.onopen = function () {
      if (stream.source === source) { each(function (sub) { self.tell(sub, { op: "open" }); }); }
    };
    source.onerror = function () {
      if (stream.source !== source) { return; }
      if (source.readyState === 2) {
        // Refused as a whole (not an event stream): try again in a while.
        stream.source = null;
        setTimeout(function () {
          if (!stream.source && self.streams.indexOf(stream) >= 0) {
            stream.dirty = true;
            self.schedule(0);
          }
        }, 5000);
      }
      each(function (sub) { self.tell(sub, { op: "lost" }); });
    };
    source.onmessage = function (event) {
      if (stream.source !== source) { return; }
      var record;
      try { record = JSON.parse(event.data); } catch (err) { return; }
      var sub = self.subs.get(order[record.s]);
      if (!sub || sub.ended || sub.stream !== stream) { return; }
      if (record.end) {
        sub.ended = true; // left out when this stream opens again; the tab subscribes anew
        self.tell(sub, { op: "end", why: String(record.why || "") });
      } else {
        self.tell(sub, { op: "event", e: record.e, d: record.d });
      }
    };
  };

  scope.StreamsHub = StreamsHub;

  if (typeof scope.SharedWorkerGlobalScope !== "undefined" && scope instanceof scope.SharedWorkerGlobalScope) {
    var hub = null;
    scope.onconnect = function (event) {
      var port = event.ports[0];
      var tab = null;
      port.onmessage = function (message) {
        var data = message.data || {};
        if (data.op === "hello") {
          if (!hub) {
            hub = new StreamsHub(String(data.mux), scope.EventSource);
            setInterval(function () { hub.dropQuietTabs(); }, 10000);
          }
          tab = hub.connect(function (m) { port.postMessage(m); });
        } else if (data.op === "lock" && hub && tab !== null && scope.navigator.locks) {
          var gone = tab;
          // Granted once the tab that holds it has closed (or crashed).
          scope.navigator.locks.request(String(data.name), function () { hub.forgetTab(gone); });
        } else if (hub && tab !== null) {
          hub.receive(tab, data);
        }
      };
      port.start();
    };
  }
})(self);
