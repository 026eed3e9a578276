// The request queue: requests wait for a session, are answered by id, time out, and are
// rejected on close; a server error rejects with its code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, WsxError } from "../wsx.js";
import { install, record, settle } from "./fakes.mjs";

const OPTS = { server: "http://hub.test", user: "alice", transports: ["websocket"], connectTimeout: 0, requestTimeout: 0 };

function setup(t, opts = {}) {
  const hub = install({ random: () => 0 });
  t.after(() => hub.restore());
  const client = connect({ ...OPTS, ...opts });
  hub.clients.push(client); // closed by hub.restore(), before the fakes go
  return { hub, client, log: record(client) };
}

const strip = ({ id, ...rest }) => rest;

test("requests made while disconnected wait, and go out in order after the welcome (resubscriptions first)", async (t) => {
  const { hub, client } = setup(t);
  const pub = settle(client.publish("a", { n: 1 }));
  const sent = settle(client.send("bob", "hi"));
  const who = settle(client.presence("a"));
  await hub.flush();
  const ws = hub.sockets[0];
  ws.accept();
  await hub.flush();
  assert.deepEqual(ws.sent, [], "nothing before the welcome");
  assert.equal(pub.done, false);
  ws.open();
  await hub.flush();
  assert.deepEqual(ws.commands.map(strip), [
    { type: "publish", channel: "a", data: { n: 1 } },
    { type: "send", to: ["bob"], data: "hi" },
    { type: "presence", channel: "a" },
  ]);
  const [p, s, w] = ws.commands;
  // Acks resolve the matching id, whatever their order.
  ws.deliver({ type: "ack", id: w.id, channel: "a", users: ["alice", "bob"] });
  await hub.flush();
  assert.deepEqual(who.value, { type: "ack", id: w.id, channel: "a", users: ["alice", "bob"] });
  assert.equal(pub.done, false);
  assert.equal(sent.done, false);
  ws.deliver({ type: "ack", id: 999, offset: "nope" }); // no such request: ignored
  ws.deliver({ type: "ack", id: p.id, offset: "a-1" });
  ws.deliver({ type: "ack", id: s.id, offsets: { bob: "i-4" } });
  await hub.flush();
  assert.equal(pub.value.offset, "a-1");
  assert.deepEqual(sent.value.offsets, { bob: "i-4" });

  // After a reconnect, queued requests come after the resubscriptions.
  const sub = settle(client.subscribe("room"));
  ws.deliver({ type: "ack", id: ws.commands.at(-1).id, channel: "room", offset: "r-1" });
  await hub.flush();
  assert.ok(sub.done);
  ws.drop(1006);
  await hub.flush();
  const later = settle(client.publish("room", "x"));
  await hub.clock.advance(0);
  const ws2 = hub.sockets[1];
  ws2.open();
  await hub.flush();
  assert.deepEqual(ws2.commands.map(strip), [
    { type: "subscribe", channel: "room", since: "r-1" },
    { type: "publish", channel: "room", data: "x" },
  ]);
  assert.equal(later.done, false);
});

test("past queueSize a request rejects at once with disconnected", async (t) => {
  const { hub, client } = setup(t, { queueSize: 2 });
  const a = settle(client.publish("c", 1));
  const b = settle(client.publish("c", 2));
  const c = settle(client.publish("c", 3));
  await hub.flush();
  assert.ok(c.error instanceof WsxError);
  assert.equal(c.error.code, "disconnected");
  assert.equal(a.done || b.done, false);
  hub.sockets[0].open();
  await hub.flush();
  assert.deepEqual(hub.sockets[0].commands.map((x) => x.data), [1, 2], "the rejected one is never sent");
});

test("requestTimeout: a queued request and an unanswered one reject with timeout", async (t) => {
  const { hub, client } = setup(t, { requestTimeout: 1000 });
  const queued = settle(client.publish("c", "queued"));
  await hub.flush();
  await hub.clock.advance(999);
  assert.equal(queued.done, false);
  await hub.clock.advance(1);
  assert.equal(queued.error.code, "timeout");
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  assert.deepEqual(ws.sent, [], "a request that timed out in the queue is not sent");

  const inflight = settle(client.presence("c"));
  await hub.flush();
  assert.equal(ws.commands.length, 1);
  await hub.clock.advance(1000);
  assert.equal(inflight.error.code, "timeout");
  // Its late ack is ignored, and later requests work.
  ws.deliver({ type: "ack", id: ws.commands[0].id, channel: "c", users: [] });
  const next = settle(client.presence("c"));
  ws.deliver({ type: "ack", id: ws.commands[1].id, channel: "c", users: ["x"] });
  await hub.flush();
  assert.deepEqual(next.value.users, ["x"]);
});

test("close() rejects what waits (queued and in flight) with disconnected, and later requests too", async (t) => {
  const { hub, client, log } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  const inflight = settle(client.publish("c", 1));
  ws.drop(1006);
  await hub.flush();
  assert.equal(inflight.error.code, "disconnected", "a publish lost in flight is not repeated");
  const queued = settle(client.presence("c"));
  const queued2 = settle(client.subscribe("c"));
  await hub.flush();
  client.close();
  await hub.flush();
  assert.equal(queued.error.code, "disconnected");
  assert.equal(queued2.error.code, "disconnected");
  assert.equal(client.state, "closed");
  const after = settle(client.publish("c", 2));
  await hub.flush();
  assert.equal(after.error.code, "disconnected");
  await hub.clock.advance(60000);
  assert.equal(hub.sockets.length, 1, "no connection attempt after close()");
  assert.equal(hub.clock.pending, 0, "no timer left behind");
  assert.deepEqual(log.state, ["connecting", "open", "reconnecting", "closed"]);
});

test("a server error rejects the matching request with its code; one without id is an error event", async (t) => {
  const { hub, client, log } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  const p = settle(client.publish("locked", 1));
  const q = settle(client.publish("fine", 2));
  const err = { type: "error", id: ws.commands[0].id, code: "forbidden", message: "not yours" };
  ws.deliver(err);
  await hub.flush();
  assert.ok(p.error instanceof WsxError);
  assert.equal(p.error.code, "forbidden");
  assert.equal(p.error.message, "not yours");
  assert.deepEqual(p.error.event, err);
  assert.equal(q.done, false, "the other request still waits");
  const loose = { type: "error", code: "rate_limited", message: "slow down" };
  ws.deliver(loose);
  assert.deepEqual(log.error, [loose]);
  ws.deliver({ type: "ack", id: ws.commands[1].id, offset: "f-1" });
  await hub.flush();
  assert.equal(q.value.offset, "f-1");
});

test("lost in flight: subscribe and presence are sent again, unsubscribe resolves, publish/send reject", async (t) => {
  const { hub, client } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  const sub = settle(client.subscribe("s"));
  const pres = settle(client.presence("s"));
  const pub = settle(client.publish("s", 1));
  const snd = settle(client.send(["bob"], 1));
  ws.drop(1006);
  await hub.flush();
  assert.equal(pub.error.code, "disconnected");
  assert.equal(snd.error.code, "disconnected");
  assert.equal(sub.done || pres.done, false);
  await hub.clock.advance(0);
  const ws2 = hub.sockets[1];
  ws2.open();
  await hub.flush();
  assert.deepEqual(ws2.commands.map(strip), [
    { type: "subscribe", channel: "s" },
    { type: "presence", channel: "s" },
  ]);
  for (const c of ws2.commands) ws2.deliver({ type: "ack", id: c.id, channel: "s", offset: "s-1", users: [] });
  await hub.flush();
  assert.equal(sub.value.offset, "s-1");
  assert.ok(pres.value);
  const unsub = settle(client.unsubscribe("s"));
  ws2.drop(1006);
  await hub.flush();
  assert.deepEqual(unsub.value, { type: "ack", channel: "s" }, "its subscription ended with the session");
  await hub.clock.advance(0);
  hub.sockets[2].open();
  await hub.flush();
  assert.deepEqual(hub.sockets[2].commands, [], "not resubscribed");
});
