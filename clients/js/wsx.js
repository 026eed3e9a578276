// wsx.js: the browser client for `wsx serve` (docs/protocol.md). An ES module with no
// dependencies and no build step: this file is the one the hub serves at /wsx.js.
// The API is described in clients/js/README.md and typed in wsx.d.ts.

const TRANSPORTS = ["websocket", "sse", "poll"];

/** The defaults of {@link connect}'s options (documented in README.md). */
export const DEFAULTS = Object.freeze({
  transports: TRANSPORTS,
  requestTimeout: 10000,
  connectTimeout: 5000,
  queueSize: 100,
  backoffBase: 500,
  backoffCap: 20000,
  maxMessageSize: 1 << 20,
  dedupWindow: 64,
});

// The server holds a poll up to 25 s (poll_timeout); past this the request is presumed dead.
const POLL_DEADLINE = 45000;
// A connection that lasted this long was a success: the backoff starts over after it.
const STABLE_AFTER = 10000;
// What one POST /emulation carries at most: far below the server's body and queue limits.
const BATCH_COMMANDS = 64;
const BATCH_BYTES = 64 << 10;

/**
 * Why a request failed: `code` is the server's error code (`forbidden`, `too_large`, …),
 * or `timeout` (no answer within `requestTimeout`) or `disconnected` (the connection or
 * the client is gone, or the queue is full).
 */
export class WsxError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {object} [event] the server's `error` event, when it sent one
   */
  constructor(code, message, event) {
    super(message || code);
    this.name = "WsxError";
    this.code = code;
    this.event = event;
  }
}

/**
 * Opens a client and starts connecting at once (it never stops trying until `close()`).
 *
 * @param {object} [options] see ConnectOptions in wsx.d.ts and README.md
 * @returns {Client}
 */
export function connect(options = {}) {
  return new Client(options);
}

function parse(text) {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function endpoint(base, path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null) q.set(k, String(v));
  const s = q.toString();
  return base + path + (s ? "?" + s : "");
}

function serverList(server) {
  const list = server == null ? [globalThis.location && globalThis.location.origin] : [].concat(server);
  if (!list.length) throw new TypeError("wsx: no server");
  return list.map((s) => {
    if (!s) throw new TypeError("wsx: no server (and no page origin to default to)");
    let url = String(s).replace(/^ws(s?):/i, "http$1:");
    if (!/^https?:\/\//i.test(url)) url = new URL(url, globalThis.location.href).href;
    return url.replace(/\/+$/, "");
  });
}

function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// setTimeout fires at once for Infinity and past 2^31 - 1 ms: 0 or Infinity means none.
function timer(fn, ms) {
  return ms > 0 && Number.isFinite(ms) ? setTimeout(fn, Math.min(ms, 0x7fffffff)) : null;
}

/** Offsets recently delivered on one channel (or the inbox), to drop a replayed duplicate. */
class Recent {
  constructor(size) {
    this.size = Math.max(1, size);
    this.set = new Set();
    this.order = [];
  }
  /** Whether `offset` was seen already; remembers it if not. */
  seen(offset) {
    if (offset == null) return false;
    if (this.set.has(offset)) return true;
    this.set.add(offset);
    this.order.push(offset);
    if (this.order.length > this.size) this.set.delete(this.order.shift());
    return false;
  }
}

// ---- transports ------------------------------------------------------------------------
//
// Each takes (base URL, query parameters, hooks) and calls hooks.event(object) for each
// event and hooks.close(info) once when it ends by itself; close() ends it silently. A
// constructor throws when the browser lacks the API, so the client moves on at once.

class WebSocketTransport {
  constructor(base, params, hooks) {
    if (typeof WebSocket !== "function") throw new Error("no WebSocket in this browser");
    this.hooks = hooks;
    this.done = false;
    const ws = (this.ws = new WebSocket(endpoint(base.replace(/^http/i, "ws"), "/ws", params)));
    ws.onmessage = (e) => {
      const ev = typeof e.data === "string" ? parse(e.data) : null;
      if (ev && !this.done) hooks.event(ev);
    };
    // onerror is always followed by onclose, which has the code.
    ws.onerror = () => {};
    ws.onclose = (e) => this.end({ code: e.code, reason: e.reason });
  }
  send(text) {
    if (this.ws.readyState === 1) this.ws.send(text);
  }
  close() {
    this.done = true;
    this.ws.onmessage = this.ws.onclose = null;
    try {
      this.ws.close(1000);
    } catch {
      // already closed
    }
  }
  end(info) {
    if (this.done) return;
    this.done = true;
    this.hooks.close(info);
  }
}

/** Commands for a fallback session: POSTed in order, one request in flight, batched. */
class Emulation {
  constructor(base, session, hooks, fail) {
    this.url = endpoint(base, "/emulation", { session });
    this.hooks = hooks;
    this.fail = fail;
    this.queue = [];
    this.busy = false;
    this.stopped = false;
    this.singles = 0;
    this.abort = null;
  }
  push(text) {
    this.queue.push(text);
    this.pump();
  }
  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }
  /**
   * Tells the hub this session is over, so that it does not linger (in presence too)
   * until the hub's session_timeout: no socket closing says so for a fallback. A beacon
   * survives the page unloading; whether it arrives does not matter otherwise.
   */
  bye() {
    if (this.said) return;
    this.said = true;
    const body = '{"type":"disconnect"}';
    try {
      if (globalThis.navigator && typeof navigator.sendBeacon === "function" && navigator.sendBeacon(this.url, body)) return;
      fetch(this.url, { method: "POST", body, keepalive: true, cache: "no-store" }).catch(() => {});
    } catch {
      // nothing to do: the session times out on the hub
    }
  }
  take() {
    if (this.singles > 0) {
      this.singles--;
      return 1;
    }
    let n = 0;
    let bytes = 2;
    while (n < this.queue.length && n < BATCH_COMMANDS && (n === 0 || bytes + this.queue[n].length <= BATCH_BYTES)) {
      bytes += this.queue[n].length + 1;
      n++;
    }
    return n;
  }
  async pump() {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.stopped) {
        const n = this.take();
        const batch = this.queue.slice(0, n);
        let res;
        try {
          this.abort = new AbortController();
          res = await fetch(this.url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: n === 1 ? batch[0] : "[" + batch.join(",") + "]",
            cache: "no-store",
            signal: this.abort.signal,
          });
        } catch {
          // Whether it arrived is unknown: the session is treated as lost, like a socket.
          if (!this.stopped) this.fail({ reason: "POST /emulation failed" });
          return;
        }
        if (this.stopped) return;
        if (res.ok) {
          this.queue.splice(0, n);
          continue;
        }
        if (res.status === 429) {
          // The session's command queue is full: all or none were taken, so send again.
          await sleep(250);
          continue;
        }
        if (res.status === 404 || res.status >= 500) {
          this.fail({ reason: `POST /emulation answered ${res.status}`, status: res.status });
          return;
        }
        if (res.status === 413 && n > 1) {
          // One of them is too large: send them one by one to refuse only that one.
          this.singles = n;
          continue;
        }
        const body = await res.json().catch(() => null);
        const err = (body && body.error) || {};
        this.queue.splice(0, n);
        // Refused before the session saw them: answer each as the session would have.
        for (const text of batch) {
          const cmd = parse(text);
          this.hooks.event({
            type: "error",
            id: cmd ? cmd.id : undefined,
            code: err.code || (res.status === 413 ? "too_large" : "bad_request"),
            message: err.message || `POST /emulation answered ${res.status}`,
          });
        }
      }
    } finally {
      this.busy = false;
    }
  }
}

/**
 * What the SSE and long-poll transports share: a stream of events from the hub, and
 * commands POSTed to /emulation once the welcome names the session. Subclasses stop
 * their stream in closeStream().
 */
class FallbackTransport {
  constructor(hooks) {
    this.hooks = hooks;
    this.done = false;
    this.commands = null;
  }
  send(text) {
    if (this.commands) this.commands.push(text);
  }
  close() {
    this.done = true;
    this.closeStream();
    if (this.commands) {
      this.commands.stop();
      this.commands.bye();
    }
  }
  bye() {
    if (this.commands) this.commands.bye();
  }
  end(info) {
    if (this.done) return;
    this.close();
    this.hooks.close(info);
  }
}

class SseTransport extends FallbackTransport {
  constructor(base, params, hooks) {
    if (typeof EventSource !== "function") throw new Error("no EventSource in this browser");
    super(hooks);
    const es = (this.es = new EventSource(endpoint(base, "/sse", params)));
    es.onmessage = (e) => {
      const ev = parse(e.data);
      if (!ev || this.done) return;
      if (!this.commands && ev.type === "welcome") {
        this.commands = new Emulation(base, ev.session, hooks, (info) => this.end(info));
      }
      hooks.event(ev);
    };
    // EventSource would reconnect by itself, but to a URL with a stale inbox `since`: the
    // client reconnects instead, with its current offsets.
    es.onerror = () => this.end({ reason: "event stream failed" });
  }
  closeStream() {
    this.es.onmessage = this.es.onerror = null;
    this.es.close();
  }
}

class PollTransport extends FallbackTransport {
  constructor(base, params, hooks) {
    if (typeof fetch !== "function") throw new Error("no fetch in this browser");
    super(hooks);
    this.abort = null;
    this.run(base, params);
  }
  async get(url) {
    const abort = (this.abort = new AbortController());
    const t = setTimeout(() => abort.abort(), POLL_DEADLINE);
    try {
      const res = await fetch(url, { cache: "no-store", signal: abort.signal });
      const events = res.ok ? await res.json() : null;
      return { res, events };
    } finally {
      clearTimeout(t);
    }
  }
  async run(base, params) {
    let session;
    let cursor;
    try {
      const { res, events } = await this.get(endpoint(base, "/poll", params));
      if (this.done) return;
      if (!res.ok || !Array.isArray(events)) return this.end({ reason: `GET /poll answered ${res.status}`, status: res.status });
      session = res.headers.get("X-Wsx-Session") || (events[0] && events[0].session);
      cursor = res.headers.get("X-Wsx-Cursor");
      this.commands = new Emulation(base, session, this.hooks, (info) => this.end(info));
      this.deliver(events);
    } catch {
      return this.end({ reason: "GET /poll failed" });
    }
    let failures = 0;
    while (!this.done) {
      let got;
      try {
        got = await this.get(endpoint(base, "/poll", { session, cursor }));
      } catch {
        // A lost response is fetched again with the same cursor; twice lost, the
        // connection is.
        if (this.done) return;
        if (++failures > 1) return this.end({ reason: "GET /poll failed" });
        await sleep(500);
        continue;
      }
      if (this.done) return;
      const { res, events } = got;
      if (res.status === 404) return this.end({ reason: "the session ended", status: 404 });
      if (!res.ok || !Array.isArray(events)) {
        if (++failures > 1) return this.end({ reason: `GET /poll answered ${res.status}`, status: res.status });
        await sleep(500);
        continue;
      }
      failures = 0;
      cursor = res.headers.get("X-Wsx-Cursor") || cursor;
      this.deliver(events);
    }
  }
  deliver(events) {
    for (const ev of events) {
      if (this.done) return;
      if (ev && typeof ev === "object") this.hooks.event(ev);
    }
  }
  closeStream() {
    if (this.abort) this.abort.abort();
  }
}

const TRANSPORT_CLASSES = { websocket: WebSocketTransport, sse: SseTransport, poll: PollTransport };

// ---- the client --------------------------------------------------------------------------

/**
 * A connection to a wsx hub that keeps itself connected. Create it with {@link connect}.
 */
export class Client {
  /** @param {object} options see ConnectOptions in wsx.d.ts */
  constructor(options) {
    // An option given as undefined keeps its default.
    const o = { ...DEFAULTS };
    for (const [k, v] of Object.entries(options || {})) if (v !== undefined) o[k] = v;
    this._o = o;
    this._servers = serverList(o.server);
    this._transports = [...o.transports];
    if (!this._transports.length || this._transports.some((t) => !TRANSPORTS.includes(t))) {
      throw new TypeError(`wsx: transports must be some of ${TRANSPORTS.join(", ")}`);
    }
    this._limit = o.maxMessageSize > 0 ? o.maxMessageSize : Infinity;
    this._listeners = new Map();
    /** @type {Map<string, {since: string|null, active: boolean, wanted: boolean, recent: Recent}>} */
    this._channels = new Map();
    this._inbox = { since: o.inboxSince != null ? o.inboxSince : null, recent: new Recent(o.dedupWindow) };
    this._sessionSubs = new Set();
    this._queue = [];
    this._inflight = new Map();
    this._nextId = 1;
    this._ti = 0; // transport being tried
    this._pref = 0; // the one that last worked: rounds start there
    this._si = 0;
    this._tried = 0;
    this._retried = false;
    this._attempt = 0;
    this._gen = 0;
    this._t = null;
    this._tname = null;
    this._open = false;
    this._openedAt = 0;
    this._retryTimer = null;
    this._welcomeTimer = null;
    this._state = "connecting";
    /** @type {"websocket"|"sse"|"poll"|null} The transport in use now (null while not open). */
    this.transport = null;
    /** @type {string|null} The session id from the last `welcome`. */
    this.session = null;
    /** @type {string|null} The user the server says this is (from `welcome`). */
    this.user = null;
    /** @type {string|null} The server URL of the open connection. */
    this.server = null;
    this._onOnline = () => {
      if (this._retryTimer !== null) {
        clearTimeout(this._retryTimer);
        this._retryTimer = null;
        this._try();
      }
    };
    // A page going away ends its fallback session on the hub at once (a WebSocket's
    // close says so by itself); a page restored from the back-forward cache reconnects
    // and recovers by offset, like after any other disconnect.
    this._onPageHide = () => {
      if (this._t && typeof this._t.bye === "function") this._t.bye();
    };
    if (typeof globalThis.addEventListener === "function") {
      globalThis.addEventListener("online", this._onOnline);
      globalThis.addEventListener("pagehide", this._onPageHide);
    }
    // Listeners added right after connect() still see the first state.
    queueMicrotask(() => {
      if (this._state === "closed") return;
      this._emit("state", "connecting");
      this._try();
    });
  }

  /** @returns {"connecting"|"open"|"reconnecting"|"closed"} */
  get state() {
    return this._state;
  }

  /**
   * Adds a listener for `event` (`message`, `direct`, `presence`, `gap`, `state`,
   * `welcome`, `error`, `disconnect`). Returns the client.
   */
  on(event, fn) {
    if (typeof fn !== "function") throw new TypeError("wsx: a listener must be a function");
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  /** Removes a listener added with {@link Client#on}. Returns the client. */
  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
    return this;
  }

  /**
   * Subscribes to `channel`; resolves with the server's `ack`. The subscription survives
   * reconnects: the client resubscribes with `since` and the missed messages replay.
   * `options.since` resumes from an offset the application stored.
   */
  subscribe(channel, options) {
    const since = options && options.since != null ? options.since : null;
    let entry = this._channels.get(channel);
    if (!entry) {
      entry = { since, active: false, wanted: true, recent: new Recent(this._o.dedupWindow) };
      this._channels.set(channel, entry);
    } else {
      entry.wanted = true;
      if (entry.since == null) entry.since = since;
    }
    const forget = () => {
      const e = this._channels.get(channel);
      if (e && !e.active) this._channels.delete(channel);
    };
    return this._request({
      build: () => {
        const e = this._channels.get(channel);
        this._sessionSubs.add(channel);
        return { type: "subscribe", channel, since: e && e.since != null ? e.since : undefined };
      },
      onLost: "retry",
      ack: (ack) => {
        const e = this._channels.get(channel);
        if (!e) return;
        // A recovering ack's offset is the channel's latest, not where delivery resumes.
        if (e.since == null && !ack.recovering) e.since = ack.offset;
        e.active = true;
      },
      fail: (err) => {
        if (err.event) this._sessionSubs.delete(channel);
        forget();
      },
    });
  }

  /** Unsubscribes from `channel`; resolves with the `ack`. */
  unsubscribe(channel) {
    const entry = this._channels.get(channel);
    if (entry) entry.wanted = false;
    const done = () => {
      const e = this._channels.get(channel);
      if (e && !e.wanted) this._channels.delete(channel);
    };
    return this._request({
      build: () => {
        // Subscribed before, but not in this session (it ended with the last connection):
        // nothing to undo. A channel never subscribed goes to the server, which says so.
        if (entry && !this._sessionSubs.has(channel)) return null;
        this._sessionSubs.delete(channel);
        return { type: "unsubscribe", channel };
      },
      local: { type: "ack", channel },
      onLost: "resolve",
      ack: done,
      fail: done,
    });
  }

  /** Publishes `data` (any JSON) to `channel`; resolves with the `ack` (its `offset`). */
  publish(channel, data) {
    return this._request({ cmd: { type: "publish", channel, data }, onLost: "reject" });
  }

  /** Sends `data` to the inboxes of the users `to` (a list, or one name); resolves with the `ack`. */
  send(to, data) {
    return this._request({ cmd: { type: "send", to: [].concat(to), data }, onLost: "reject" });
  }

  /** Asks who is in `channel`; resolves with the `ack`, whose `users` is the sorted list. */
  presence(channel) {
    return this._request({ cmd: { type: "presence", channel }, onLost: "retry" });
  }

  /**
   * Where the client stands: the last offset per subscribed channel and of the inbox
   * (to store, and pass back as `subscribe(channel, {since})` and `inboxSince`).
   */
  offsets() {
    const channels = {};
    for (const [name, e] of this._channels) if (e.wanted && e.since != null) channels[name] = e.since;
    return { inbox: this._inbox.since, channels };
  }

  /** Closes the client for good; waiting requests reject with `disconnected`. */
  close() {
    if (this._state === "closed") return;
    this._gen++;
    clearTimeout(this._retryTimer);
    clearTimeout(this._welcomeTimer);
    this._retryTimer = this._welcomeTimer = null;
    if (this._t) this._t.close();
    this._t = null;
    this._open = false;
    this.transport = null;
    if (typeof globalThis.removeEventListener === "function") {
      globalThis.removeEventListener("online", this._onOnline);
      globalThis.removeEventListener("pagehide", this._onPageHide);
    }
    const waiting = [...this._queue, ...this._inflight.values()];
    this._queue = [];
    this._inflight.clear();
    for (const req of waiting) this._reject(req, new WsxError("disconnected", "the client was closed"));
    this._setState("closed");
  }

  // ---- connecting ----

  async _try() {
    if (this._state === "closed") return;
    const gen = ++this._gen;
    const name = this._transports[this._ti];
    const base = this._servers[this._si];
    const params = {};
    const { token, user } = this._o;
    if (token != null) {
      try {
        params.token = typeof token === "function" ? await token() : token;
      } catch {
        if (gen === this._gen) this._roundFailed();
        return;
      }
      if (gen !== this._gen) return;
    } else if (user != null) {
      params.user = user;
    }
    params.since = this._inbox.since;
    const hooks = {
      event: (ev) => gen === this._gen && this._onEvent(ev),
      close: (info) => gen === this._gen && this._onClose(info),
    };
    let t;
    try {
      t = new TRANSPORT_CLASSES[name](base, params, hooks);
    } catch {
      return this._next("missing");
    }
    this._t = t;
    this._tname = name;
    this._tbase = base;
    this._welcomeTimer = timer(() => {
      if (gen !== this._gen || this._open) return;
      t.close();
      this._next("timeout");
    }, this._o.connectTimeout);
  }

  /**
   * The transport being tried failed before its welcome (`missing` API, `timeout`, or
   * `failed`): the next one, or a new round.
   */
  async _next(why) {
    const gen = ++this._gen;
    clearTimeout(this._welcomeTimer);
    if (this._t) this._t.close();
    this._t = null;
    if (why === "failed") {
      // A refused connection says nothing of the transport if the hub is down: then
      // the others would fail too, or win a race with its restart and stick. So the
      // transport is given up only if the hub answers, and after a second try.
      const reachable = await this._reachable(this._servers[this._si]);
      if (gen !== this._gen || this._state === "closed") return;
      if (!reachable) return this._roundFailed();
      if (!this._retried) {
        this._retried = true;
        return this._try();
      }
    }
    this._retried = false;
    if (++this._tried < this._transports.length) {
      this._ti = (this._ti + 1) % this._transports.length;
      this._try();
    } else {
      this._roundFailed();
    }
  }

  /** Whether the hub answers HTTP at all (any status; opaque when cross-origin). */
  async _reachable(base) {
    if (typeof fetch !== "function" || typeof AbortController !== "function") return true;
    const abort = new AbortController();
    const t = timer(() => abort.abort(), this._o.connectTimeout);
    try {
      await fetch(base + "/healthz", { mode: "no-cors", cache: "no-store", signal: abort.signal });
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(t);
    }
  }

  _roundFailed() {
    this._si = (this._si + 1) % this._servers.length;
    this._schedule();
  }

  _schedule() {
    this._tried = 0;
    this._retried = false;
    this._ti = this._pref;
    const ceiling = Math.min(this._o.backoffCap, this._o.backoffBase * 2 ** Math.min(this._attempt, 30));
    this._attempt++;
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._try();
    }, Math.min(Math.random() * ceiling, 0x7fffffff));
  }

  _onClose(info) {
    if (!this._open) return this._next("failed");
    this._gen++;
    this._t = null;
    this._open = false;
    this.transport = null;
    if (Date.now() - this._openedAt >= STABLE_AFTER) this._attempt = 0;
    this._emit("disconnect", { code: info.code, reason: info.reason, transport: this._tname });
    this._requeue(info);
    this._setState("reconnecting");
    this._schedule();
  }

  _welcome(ev) {
    clearTimeout(this._welcomeTimer);
    this._open = true;
    this._openedAt = Date.now();
    this._pref = this._ti;
    this._tried = 0;
    this.transport = this._tname;
    this.server = this._tbase;
    this.session = ev.session;
    this.user = ev.user;
    if (this._inbox.since == null) this._inbox.since = ev.offset;
    this._sessionSubs.clear();
    this._emit("welcome", ev);
    if (!this._open) return; // a listener closed the client
    for (const [channel, e] of this._channels) {
      if (!e.active || !e.wanted) continue;
      this._sessionSubs.add(channel);
      this._send({
        cmd: { type: "subscribe", channel, since: e.since != null ? e.since : undefined },
        internal: true,
        fail: (err) => {
          if (!err.event) return;
          // Refused now (e.g. a new token without this channel): say so, and stop.
          this._channels.delete(channel);
          this._emit("error", err.event);
        },
      });
    }
    const queued = this._queue;
    this._queue = [];
    for (const req of queued) this._send(req);
    this._setState("open");
  }

  /** The connection was lost with these requests in flight. */
  _requeue(info) {
    const inflight = [...this._inflight.values()];
    this._inflight.clear();
    const again = [];
    let tooLarge = info.code === 1009;
    for (const req of inflight) {
      if (tooLarge) {
        // The server stopped at the first command it had not answered: the one over its
        // limit. Those after it were never read, so they can go again.
        tooLarge = false;
        if (req.bytes > 1024) this._limit = Math.min(this._limit, req.bytes - 1);
        this._reject(req, new WsxError("too_large", "over the server's max_message_size"));
        for (const r of inflight.slice(inflight.indexOf(req) + 1)) if (!r.internal) again.push(r);
        break;
      }
      if (req.internal) {
        clearTimeout(req.timer); // sent again at the next welcome
      } else if (req.onLost === "retry") {
        again.push(req);
      } else if (req.onLost === "resolve") {
        this._resolve(req, req.local);
      } else {
        this._reject(req, new WsxError("disconnected", "the connection was lost before the answer; it may or may not have been applied"));
      }
    }
    this._queue.unshift(...again);
  }

  // ---- requests ----

  _request(req) {
    return new Promise((resolve, reject) => {
      req.resolve = resolve;
      req.rejectFn = reject;
      if (this._state === "closed") return this._reject(req, new WsxError("disconnected", "the client is closed"));
      if (req.cmd) {
        const text = JSON.stringify(req.cmd);
        // A UTF-16 unit is at most 3 bytes: only a text that might be near the limit is encoded.
        req.bytes = text.length * 3 > this._limit - 32 ? utf8Length(text) : text.length;
        if (req.bytes > this._limit - 32) {
          return this._reject(req, new WsxError("too_large", `over ${this._limit} bytes`));
        }
      }
      req.timer = timer(() => {
        const i = this._queue.indexOf(req);
        if (i >= 0) this._queue.splice(i, 1);
        if (req.id) this._inflight.delete(req.id);
        this._reject(req, new WsxError("timeout", `no answer within ${this._o.requestTimeout} ms`));
      }, this._o.requestTimeout);
      if (this._open) this._send(req);
      else if (this._queue.length >= this._o.queueSize) {
        this._reject(req, new WsxError("disconnected", `not connected, and ${this._queue.length} requests wait already`));
      } else this._queue.push(req);
    });
  }

  _send(req) {
    const cmd = req.build ? req.build() : req.cmd;
    if (cmd === null) return this._resolve(req, req.local);
    req.id = this._nextId++;
    if (req.internal) {
      req.timer = timer(() => this._inflight.delete(req.id), this._o.requestTimeout);
    }
    this._inflight.set(req.id, req);
    const text = JSON.stringify({ ...cmd, id: req.id });
    if (!req.bytes) req.bytes = text.length;
    this._t.send(text);
  }

  _resolve(req, value) {
    clearTimeout(req.timer);
    if (req.ack) req.ack(value);
    if (req.resolve) req.resolve(value);
  }

  _reject(req, err) {
    clearTimeout(req.timer);
    if (req.fail) req.fail(err);
    if (req.rejectFn) req.rejectFn(err);
  }

  // ---- events ----

  _onEvent(ev) {
    if (!this._open) {
      if (ev.type === "welcome") this._welcome(ev);
      return;
    }
    switch (ev.type) {
      case "ack":
      case "error": {
        const req = ev.id != null ? this._inflight.get(ev.id) : undefined;
        if (!req) {
          if (ev.type === "error") this._emit("error", ev);
          return;
        }
        this._inflight.delete(ev.id);
        if (ev.type === "ack") this._resolve(req, ev);
        else this._reject(req, new WsxError(ev.code, ev.message, ev));
        return;
      }
      case "message": {
        const e = this._channels.get(ev.channel);
        if (!e || !e.wanted || e.recent.seen(ev.offset)) return;
        if (ev.offset != null) e.since = ev.offset;
        this._emit("message", ev);
        return;
      }
      case "direct":
        if (this._inbox.recent.seen(ev.offset)) return;
        if (ev.offset != null) this._inbox.since = ev.offset;
        this._emit("direct", ev);
        return;
      case "gap": {
        // Delivery resumes after ev.offset: that is the next `since`.
        if (ev.channel == null) {
          this._inbox.since = ev.offset;
        } else {
          const e = this._channels.get(ev.channel);
          if (!e || !e.wanted) return;
          e.since = ev.offset;
        }
        this._emit("gap", ev);
        return;
      }
      case "welcome":
        return; // one per session, and this session had it
      default:
        this._emit(ev.type, ev);
    }
  }

  _setState(s) {
    if (this._state === s) return;
    this._state = s;
    this._emit("state", s);
  }

  _emit(type, arg) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(arg);
      } catch (e) {
        // A listener's bug is reported, and neither stops the others nor the client.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }
}
