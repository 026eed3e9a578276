// The transport fallback rule of README.md: a missing API moves on at once; no welcome
// within connectTimeout moves on; a failed connection moves on only after a second
// failure while /healthz answers; an unreachable hub ends the round; a round starts with
// the transport that last worked; the next round uses the next server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsx.js";
import { install, record } from "./fakes.mjs";

const SERVER = "http://hub.test";

function setup(t, opts = {}, fakes = {}) {
  const hub = install({ random: () => 0.5, ...fakes });
  t.after(() => hub.restore());
  const client = connect({ server: SERVER, user: "alice", connectTimeout: 1000, requestTimeout: 0, backoffBase: 400, ...opts });
  hub.clients.push(client); // closed by hub.restore(), before the fakes go
  return { hub, client, log: record(client) };
}

test("a missing API: the next transport at once, with no wait", async (t) => {
  const { hub, client } = setup(t, {}, { apis: ["EventSource", "fetch"] });
  const t0 = hub.clock.now;
  await hub.flush();
  assert.equal(hub.streams.length, 1, "no WebSocket: SSE straight away");
  assert.equal(hub.clock.now, t0);
  assert.equal(hub.streams[0].url, "http://hub.test/sse?user=alice");
  hub.streams[0].open();
  await hub.flush();
  assert.equal(client.transport, "sse");
  assert.equal(client.state, "open");
});

test("neither WebSocket nor EventSource: long-polling at once", async (t) => {
  const { hub, client } = setup(t, {}, { apis: ["fetch"] });
  await hub.flush();
  const polls = hub.fetches("/poll");
  assert.equal(polls.length, 1);
  assert.equal(polls[0].url, "http://hub.test/poll?user=alice");
  polls[0].respond(200, [{ type: "welcome", user: "alice", session: "P", offset: "i-0" }], { "X-Wsx-Session": "P", "X-Wsx-Cursor": "0" });
  await hub.flush();
  assert.equal(client.transport, "poll");
  assert.equal(client.session, "P");
});

test("no welcome within connectTimeout: the next transport; all silent: the round ends and backs off", async (t) => {
  const { hub, client, log } = setup(t);
  await hub.flush();
  assert.equal(hub.sockets.length, 1);
  hub.sockets[0].accept(); // upgraded, but the welcome never comes (a proxy that eats it)
  await hub.clock.advance(999);
  assert.equal(hub.streams.length, 0);
  await hub.clock.advance(1);
  assert.equal(hub.sockets[0].closedWith, 1000, "the silent WebSocket is closed");
  assert.equal(hub.streams.length, 1, "SSE after connectTimeout");
  await hub.clock.advance(1000);
  assert.equal(hub.streams[0].closed, true);
  const polls = hub.fetches("/poll");
  assert.equal(polls.length, 1, "then long-polling");
  await hub.clock.advance(1000);
  assert.equal(polls[0].aborted, true, "the unanswered poll is aborted");
  assert.equal(hub.fetches("/healthz").length, 0, "a timeout needs no /healthz");
  // The round failed: a backoff (0.5 * backoffBase), then a round from the first again.
  assert.equal(hub.sockets.length, 1);
  await hub.clock.advance(199);
  assert.equal(hub.sockets.length, 1);
  await hub.clock.advance(1);
  assert.equal(hub.sockets.length, 2);
  hub.sockets[1].open();
  await hub.flush();
  assert.equal(client.transport, "websocket");
  assert.deepEqual(log.state, ["connecting", "open"]);
});

test("a refused connection while /healthz answers: tried once more, then the next transport", async (t) => {
  const { hub, client } = setup(t);
  hub.onFetch = (req) => {
    if (req.path === "/healthz") req.respond(503, "starting"); // any status: reachable
  };
  await hub.flush();
  hub.sockets[0].drop(1006);
  await hub.flush();
  assert.equal(hub.sockets.length, 2, "the same transport once more");
  assert.equal(hub.streams.length, 0);
  hub.sockets[1].drop(1002);
  await hub.flush();
  assert.equal(hub.streams.length, 1, "then SSE");
  assert.equal(hub.fetches("/healthz").length, 2);
  hub.streams[0].fail(); // refused too, twice
  await hub.flush();
  assert.equal(hub.streams.length, 2);
  hub.streams[1].fail();
  await hub.flush();
  assert.equal(hub.fetches("/poll").length, 1, "then long-polling");
  hub.fetches("/poll")[0].respond(200, [{ type: "welcome", user: "alice", session: "P", offset: "i-0" }], { "X-Wsx-Session": "P", "X-Wsx-Cursor": "0" });
  await hub.flush();
  assert.equal(client.transport, "poll");
});

test("a refused connection while /healthz gets no answer: the round ends, the transport is kept", async (t) => {
  const { hub, client } = setup(t);
  hub.onFetch = (req) => {
    if (req.path === "/healthz") req.fail();
  };
  await hub.flush();
  for (let round = 0; round < 4; round++) {
    hub.sockets.at(-1).drop(1006);
    await hub.clock.advance(200 * 2 ** round); // the backoff: 0.5 * 400 * 2^round
  }
  assert.equal(hub.sockets.length, 5, "each round tries the WebSocket again");
  assert.equal(hub.streams.length, 0, "never given up for SSE while the hub is down");
  assert.equal(hub.fetches("/poll").length, 0);
  hub.sockets.at(-1).open();
  await hub.flush();
  assert.equal(client.transport, "websocket");
});

test("a round starts with the transport that last worked", async (t) => {
  const { hub, client, log } = setup(t);
  await hub.flush();
  await hub.clock.advance(1000); // the WebSocket never answers
  hub.streams[0].open();
  await hub.flush();
  assert.equal(client.transport, "sse");
  hub.streams[0].fail(); // the open stream breaks
  await hub.flush();
  assert.equal(client.state, "reconnecting");
  await hub.clock.advance(200);
  assert.equal(hub.streams.length, 2, "SSE first this time");
  assert.equal(hub.sockets.length, 1, "no new WebSocket");
  hub.streams[1].open();
  await hub.flush();
  assert.deepEqual(log.state, ["connecting", "open", "reconnecting", "open"]);
  assert.deepEqual(log.disconnect.map((d) => d.transport), ["sse"]);
});

test("a failed round moves to the next server of the list", async (t) => {
  const { hub, client } = setup(t, { server: ["http://a.test", "ws://b.test/hub/"], transports: ["websocket"] });
  await hub.flush();
  assert.equal(hub.sockets[0].url, "ws://a.test/ws?user=alice");
  await hub.clock.advance(1000 + 200);
  assert.equal(hub.sockets[1].url, "ws://b.test/hub/ws?user=alice");
  hub.sockets[1].open();
  await hub.flush();
  assert.equal(client.server, "http://b.test/hub");
});
