// Fakes for the unit tests of wsx.js: a clock, WebSocket, EventSource and fetch installed on
// globalThis, through which a test plays the hub. No framework: node:test and node:assert.
//
//   const hub = install();           // in each test; t.after(() => hub.restore())
//   const c = connect({ server: "http://hub.test", user: "alice", ... });
//   hub.clients.push(c);             // hub.restore() closes it first
//   await hub.flush();               // connect() starts after the current task
//   const ws = hub.sockets[0];       // the WebSocket the client opened
//   ws.open({ offset: "i-0" });      // accept it and send `welcome`
//   ws.deliver({ type: "message", ... }); ws.raw("{not json"); ws.drop(1006);
//   await hub.clock.advance(500);    // fake time: timers due run in order
//
// wsx.js reads setTimeout, clearTimeout, Date.now, Math.random, WebSocket, EventSource and
// fetch as globals at call time, so replacing them here is enough.

/** Lets every pending promise reaction and microtask run (several turns of the loop). */
export async function flush(turns = 5) {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** A fake clock: setTimeout / clearTimeout / Date.now. Every delay asked for is logged. */
export class Clock {
  constructor() {
    this.now = 1_700_000_000_000;
    this.timers = new Map();
    this.nextId = 1;
    /** Every setTimeout call: { id, ms, at }. */
    this.log = [];
  }
  install() {
    this.saved = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout, now: Date.now };
    globalThis.setTimeout = (fn, ms, ...args) => {
      const id = this.nextId++;
      const d = Number(ms) > 0 ? Number(ms) : 0;
      this.timers.set(id, { at: this.now + d, fn, args });
      this.log.push({ id, ms: d, at: this.now });
      return id;
    };
    globalThis.clearTimeout = (id) => {
      this.timers.delete(id);
    };
    Date.now = () => this.now;
  }
  uninstall() {
    globalThis.setTimeout = this.saved.setTimeout;
    globalThis.clearTimeout = this.saved.clearTimeout;
    Date.now = this.saved.now;
  }
  /** Timers pending now. */
  get pending() {
    return this.timers.size;
  }
  /** Moves time forward by `ms`, running each timer due (in order) and what it awaits. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await flush();
      let next = null;
      for (const [id, t] of this.timers) {
        if (t.at <= end && (!next || t.at < next.t.at || (t.at === next.t.at && id < next.id))) next = { id, t };
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.now = next.t.at;
      next.t.fn(...next.t.args);
    }
    this.now = end;
    await flush();
  }
}

/** A WebSocket the test controls from the server's side. */
export class FakeWebSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onmessage = this.onerror = this.onclose = this.onopen = null;
    FakeWebSocket.hub.sockets.push(this);
  }
  // ---- the client's side ----
  send(text) {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(text);
  }
  close(code) {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }
  // ---- the server's side ----
  /** The URL's query parameters. */
  get params() {
    return new URL(this.url).searchParams;
  }
  /** The commands the client sent, parsed. */
  get commands() {
    return this.sent.map((t) => JSON.parse(t));
  }
  accept() {
    this.readyState = 1;
    if (this.onopen) this.onopen({});
  }
  /** Accepts and sends a `welcome` (fields override the defaults). */
  open(fields = {}) {
    this.accept();
    this.deliver({ type: "welcome", user: "alice", session: "s" + FakeWebSocket.hub.sockets.indexOf(this), offset: "i-0", ...fields });
  }
  deliver(obj) {
    this.raw(JSON.stringify(obj));
  }
  raw(data) {
    if (this.readyState === 1 && this.onmessage) this.onmessage({ data });
  }
  /** The connection ends from the server's side (or the network): error, then close. */
  drop(code = 1006, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this.onerror) this.onerror({});
    if (this.onclose) this.onclose({ code, reason, wasClean: code !== 1006 });
  }
}

/** An EventSource the test controls. */
export class FakeEventSource {
  constructor(url) {
    this.url = url;
    this.closed = false;
    this.onmessage = this.onerror = null;
    FakeEventSource.hub.streams.push(this);
  }
  close() {
    this.closed = true;
  }
  get params() {
    return new URL(this.url).searchParams;
  }
  open(fields = {}) {
    this.deliver({ type: "welcome", user: "alice", session: "sse" + FakeEventSource.hub.streams.indexOf(this), offset: "i-0", ...fields });
  }
  deliver(obj) {
    this.raw(JSON.stringify(obj));
  }
  raw(data) {
    if (!this.closed && this.onmessage) this.onmessage({ data });
  }
  fail() {
    if (!this.closed && this.onerror) this.onerror({});
  }
}

/** A Response, as far as wsx.js reads one. */
export function response(status, body = null, headers = {}) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (n) => (h[n.toLowerCase()] != null ? String(h[n.toLowerCase()]) : null) },
    json: async () => (typeof body === "string" ? JSON.parse(body) : body),
  };
}

/** One fetch() call, pending until the test (or hub.onFetch) answers it. */
class FakeRequest {
  constructor(url, init = {}) {
    this.url = String(url);
    this.init = init;
    this.method = init.method || "GET";
    this.body = init.body;
    this.settled = false;
    this.aborted = false;
    this.promise = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    if (init.signal) {
      init.signal.addEventListener("abort", () => {
        this.aborted = true;
        this.fail(new DOMException("aborted", "AbortError"));
      });
    }
  }
  get path() {
    return new URL(this.url).pathname;
  }
  get params() {
    return new URL(this.url).searchParams;
  }
  respond(status, body, headers) {
    if (this.settled) return;
    this.settled = true;
    this._resolve(response(status, body, headers));
  }
  fail(err = new TypeError("Failed to fetch")) {
    if (this.settled) return;
    this.settled = true;
    this._reject(err);
  }
}

/** A small deterministic PRNG (mulberry32), to stand in for Math.random. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Installs the fakes; returns the hub the test plays. `apis` chooses which browser APIs
 * exist (a missing one is deleted from globalThis). `random` replaces Math.random.
 */
export function install({ apis = ["WebSocket", "EventSource", "fetch"], random = seeded(1) } = {}) {
  const hub = {
    clock: new Clock(),
    sockets: [],
    streams: [],
    requests: [],
    /** Called with each FakeRequest; may answer it at once. Default: /healthz answers 200. */
    onFetch: (req) => {
      if (req.path === "/healthz") req.respond(200, "ok");
    },
    flush,
    /** Clients to close when the test ends, before the fakes are removed (see restore). */
    clients: [],
  };
  const saved = {};
  for (const k of ["WebSocket", "EventSource", "fetch"]) saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
  const savedRandom = Math.random;
  FakeWebSocket.hub = FakeEventSource.hub = hub;
  hub.clock.install();
  Math.random = random;
  const fakes = {
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    fetch: (url, init) => {
      const req = new FakeRequest(url, init);
      hub.requests.push(req);
      if (hub.onFetch) hub.onFetch(req);
      return req.promise;
    },
  };
  for (const k of Object.keys(fakes)) {
    if (apis.includes(k)) globalThis[k] = fakes[k];
    else delete globalThis[k];
  }
  /** The requests to `path` (and method), in order. */
  hub.fetches = (path, method) => hub.requests.filter((r) => r.path === path && (!method || r.method === method));
  hub.restore = () => {
    // Closing a fallback client fetches (its `disconnect`): it must reach the fake.
    for (const c of hub.clients) c.close();
    hub.onFetch = (req) => req.fail();
    hub.clock.uninstall();
    Math.random = savedRandom;
    for (const [k, d] of Object.entries(saved)) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  };
  return hub;
}

/** Records what a client emits: `log.state` is the list of states, `log.<event>` the payloads. */
export function record(client, events = ["state", "message", "direct", "gap", "welcome", "error", "disconnect", "presence"]) {
  const log = {};
  for (const e of events) {
    log[e] = [];
    client.on(e, (x) => log[e].push(x));
  }
  return log;
}

/** Waits for a promise's outcome without letting it reject unhandled: { value } or { error }. */
export function settle(p) {
  const out = { done: false };
  p.then(
    (value) => Object.assign(out, { done: true, value }),
    (error) => Object.assign(out, { done: true, error }),
  );
  return out;
}
