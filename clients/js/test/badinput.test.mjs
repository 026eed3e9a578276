// A hostile or broken server: malformed frames, abrupt closes, 5xx answers, silence. The
// client reports through its events and keeps reconnecting within its bounds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsx.js";
import { install, record, settle } from "./fakes.mjs";

const SERVER = "http://hub.test";

function setup(t, opts = {}, fakes = {}) {
  const hub = install({ random: () => 0.5, ...fakes });
  t.after(() => hub.restore());
  const client = connect({ server: SERVER, user: "alice", connectTimeout: 0, requestTimeout: 0, ...opts });
  hub.clients.push(client); // closed by hub.restore(), before the fakes go
  return { hub, client, log: record(client) };
}

const GARBAGE = ["{", "", "not json", "[]", "[1,2]", "42", "null", "true", '"welcome"', '{"type":', "\u0000\uFFFF"];

test("malformed JSON and non-object frames are ignored, before and after the welcome", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["websocket"] });
  await hub.flush();
  const ws = hub.sockets[0];
  ws.accept();
  for (const g of GARBAGE) assert.doesNotThrow(() => ws.raw(g), `frame ${JSON.stringify(g)}`);
  assert.doesNotThrow(() => ws.raw(new ArrayBuffer(8)), "a binary frame");
  await hub.flush();
  assert.equal(client.state, "connecting", "garbage is no welcome");
  ws.deliver({ type: "welcome", user: "alice", session: "s1", offset: "i-0" });
  await hub.flush();
  assert.equal(client.state, "open");
  const sub = settle(client.subscribe("a"));
  for (const g of GARBAGE) assert.doesNotThrow(() => ws.raw(g));
  assert.doesNotThrow(() => ws.raw(new Uint8Array([123, 125])));
  // Objects that answer nothing: an ack without id, a message without channel, a second welcome.
  ws.deliver({ type: "ack" });
  ws.deliver({ type: "message", data: 1, offset: "x-1" });
  ws.deliver({ type: "welcome", user: "mallory", session: "evil", offset: "i-99" });
  ws.deliver({ type: "ack", id: ws.commands[0].id, channel: "a", offset: "a-0" });
  ws.deliver({ type: "message", channel: "a", from: "bob", data: "after", offset: "a-1" });
  await hub.flush();
  assert.equal(sub.value.offset, "a-0");
  assert.deepEqual(log.message.map((m) => m.data), ["after"]);
  assert.equal(client.session, "s1");
  assert.equal(client.user, "alice");
  assert.deepEqual(log.error, []);
  assert.deepEqual(log.state, ["connecting", "open"]);
});

test("malformed events over SSE and long-polling are ignored too", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["sse"] });
  await hub.flush();
  const es = hub.streams[0];
  for (const g of GARBAGE) assert.doesNotThrow(() => es.raw(g));
  es.open();
  await hub.flush();
  assert.equal(client.transport, "sse");
  for (const g of GARBAGE) assert.doesNotThrow(() => es.raw(g));
  es.deliver({ type: "direct", from: "bob", data: "ok", offset: "i-1" });
  assert.deepEqual(log.direct.map((d) => d.data), ["ok"]);

  // A poll client on the same fakes.
  const p = connect({ server: SERVER, user: "bob", transports: ["poll"], connectTimeout: 0, requestTimeout: 0 });
  hub.clients.push(p); // closed by hub.restore(), before the fakes go
  const plog = record(p);
  await hub.flush();
  const first = hub.fetches("/poll").at(-1);
  first.respond(200, [null, 5, "x", { type: "welcome", user: "bob", session: "P", offset: "i-0" }, [1]], { "X-Wsx-Session": "P", "X-Wsx-Cursor": "1" });
  await hub.flush();
  assert.equal(p.state, "open");
  const second = hub.fetches("/poll").at(-1);
  assert.equal(second.url, "http://hub.test/poll?session=P&cursor=1");
  second.respond(200, [42, null, { type: "direct", data: "polled", offset: "i-1" }], { "X-Wsx-Cursor": "2" });
  await hub.flush();
  assert.deepEqual(plog.direct.map((d) => d.data), ["polled"]);
  assert.equal(hub.fetches("/poll").at(-1).params.get("cursor"), "2");
});

test("an abrupt close (1006) gives disconnect, reconnecting, then open again; close() gives closed", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["websocket"], backoffBase: 1000 });
  await hub.flush();
  hub.sockets[0].open();
  await hub.flush();
  assert.equal(client.transport, "websocket");
  hub.sockets[0].drop(1006);
  await hub.flush();
  assert.deepEqual(log.disconnect, [{ code: 1006, reason: "", transport: "websocket" }]);
  assert.equal(client.state, "reconnecting");
  assert.equal(client.transport, null);
  await hub.clock.advance(499); // 0.5 * backoffBase
  assert.equal(hub.sockets.length, 1);
  await hub.clock.advance(1);
  assert.equal(hub.sockets.length, 2);
  hub.sockets[1].open();
  await hub.flush();
  // Other close codes the hub uses (4008 a stalled subscriber, 1011, 1001 a restart): same.
  // The connections were short, so each wait doubles: 0.5 * 2000, 4000, 8000.
  for (const [code, wait] of [[4008, 1000], [1011, 2000], [1001, 4000]]) {
    const n = hub.sockets.length;
    hub.sockets.at(-1).drop(code, "bye");
    await hub.clock.advance(wait - 1);
    assert.equal(hub.sockets.length, n);
    await hub.clock.advance(1);
    assert.equal(hub.sockets.length, n + 1);
    hub.sockets.at(-1).open();
    await hub.flush();
  }
  assert.deepEqual(log.disconnect.map((d) => d.code), [1006, 4008, 1011, 1001]);
  client.close();
  assert.deepEqual(log.state, ["connecting", "open", "reconnecting", "open", "reconnecting", "open", "reconnecting", "open", "reconnecting", "open", "closed"]);
  assert.equal(hub.sockets.at(-1).closedWith, 1000, "close() closes the socket with 1000");
  assert.equal(log.welcome.length, 5);
});

test("GET /poll answering 5xx: the attempt fails, it is retried once, then the round waits its backoff", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["poll"], backoffBase: 1000 });
  await hub.flush();
  hub.fetches("/poll")[0].respond(503, null);
  await hub.flush();
  assert.equal(hub.fetches("/healthz").length, 1, "the hub is asked whether it is up");
  assert.equal(hub.fetches("/poll").length, 2, "and the transport tried once more");
  const t0 = hub.clock.now;
  const before = hub.clock.log.length;
  hub.fetches("/poll")[1].respond(500, null);
  await hub.flush();
  assert.equal(hub.fetches("/poll").length, 2);
  const retry = hub.clock.log.slice(before).filter((x) => x.ms === 500);
  assert.equal(retry.length, 1, "one backoff timer of 0.5 * backoffBase");
  assert.equal(client.state, "connecting");
  await hub.clock.advance(500);
  assert.equal(hub.clock.now - t0, 500);
  assert.equal(hub.fetches("/poll").length, 3, "a new round after the backoff");
  // Now it answers; then the held poll fails with 5xx twice: the connection is lost.
  hub.fetches("/poll")[2].respond(200, [{ type: "welcome", user: "alice", session: "P", offset: "i-0" }], { "X-Wsx-Session": "P", "X-Wsx-Cursor": "c1" });
  await hub.flush();
  assert.equal(client.state, "open");
  hub.fetches("/poll")[3].respond(502, "bad gateway");
  await hub.flush();
  assert.equal(client.state, "open", "one failed poll is retried");
  await hub.clock.advance(500);
  const again = hub.fetches("/poll")[4];
  assert.equal(again.params.get("cursor"), "c1", "with the same cursor");
  again.respond(504, null);
  await hub.flush();
  assert.equal(client.state, "reconnecting");
  assert.equal(log.disconnect.length, 1);
  assert.equal(log.disconnect[0].transport, "poll");
  await hub.clock.advance(1000);
  assert.equal(hub.fetches("/poll").length, 6, "reconnecting");
  assert.equal(hub.fetches("/poll")[5].params.get("session"), null, "a new session");
});

test("POST /emulation answering 5xx ends the session: disconnect, reconnect; 429 is retried; 4xx rejects", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["sse"], backoffBase: 1000 });
  await hub.flush();
  hub.streams[0].open({ session: "S1" });
  await hub.flush();
  assert.equal(client.state, "open");

  const limited = settle(client.publish("c", 1));
  await hub.flush();
  const post1 = hub.fetches("/emulation", "POST")[0];
  assert.equal(post1.url, "http://hub.test/emulation?session=S1");
  post1.respond(429, null);
  await hub.clock.advance(250);
  const post2 = hub.fetches("/emulation", "POST")[1];
  assert.equal(post2.body, post1.body, "sent again after a 429");
  post2.respond(202, null);
  await hub.flush();
  hub.streams[0].deliver({ type: "ack", id: JSON.parse(post2.body).id, offset: "c-1" });
  await hub.flush();
  assert.equal(limited.value.offset, "c-1");

  const refused = settle(client.publish("c", 2));
  await hub.flush();
  hub.fetches("/emulation", "POST")[2].respond(400, { error: { code: "bad_request", message: "nope" } });
  await hub.flush();
  assert.equal(refused.error.code, "bad_request");
  assert.equal(client.state, "open");

  const lost = settle(client.publish("c", 3));
  await hub.flush();
  hub.fetches("/emulation", "POST")[3].respond(503, null);
  await hub.flush();
  assert.equal(lost.error.code, "disconnected");
  assert.equal(client.state, "reconnecting");
  assert.equal(log.disconnect.length, 1);
  assert.equal(hub.streams[0].closed, true);
  const bye = hub.fetches("/emulation", "POST").at(-1);
  assert.equal(bye.body, '{"type":"disconnect"}', "the old session is told it is over");
  await hub.clock.advance(500);
  assert.equal(hub.streams.length, 2);
  hub.streams[1].open({ session: "S2" });
  await hub.flush();
  assert.equal(client.state, "open");
});

test("a hub that never answers: bounded attempts, each given up after connectTimeout, the backoff capped", async (t) => {
  const { hub, client, log } = setup(t, { transports: ["websocket"], connectTimeout: 1000, backoffBase: 100, backoffCap: 800 }, { random: () => 0.999 });
  await hub.flush();
  const starts = [];
  let seen = 0;
  for (let ms = 0; ms < 60000; ms += 100) {
    await hub.clock.advance(100);
    while (seen < hub.sockets.length) starts.push({ at: hub.clock.now, ws: hub.sockets[seen++] });
  }
  // Each attempt waits 1000 ms, then at most 800 ms of backoff.
  assert.ok(starts.length >= 60000 / 1800 - 1 && starts.length <= 60000 / 1000, `${starts.length} attempts`);
  for (const s of starts.slice(0, -1)) assert.equal(s.ws.closedWith, 1000, "a timed-out attempt is closed");
  const gaps = starts.slice(1).map((s, i) => s.at - starts[i].at);
  assert.ok(gaps.every((g) => g >= 1000 && g <= 1900), gaps.join(","));
  assert.ok(gaps.slice(5).every((g) => g >= 1700), "the backoff reached its cap");
  assert.deepEqual(log.state, ["connecting"]);
  assert.deepEqual(log.disconnect, []);
});
