// Offset tracking: the client resubscribes every channel with `since` = the last offset it
// saw (first ack, then messages), and reopens the inbox with `?since=` (welcome, directs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsx.js";
import { install, record, settle } from "./fakes.mjs";

const SERVER = "http://hub.test";
const OPTS = { server: SERVER, user: "alice", transports: ["websocket"], connectTimeout: 0, requestTimeout: 0 };

function setup(t, opts = {}) {
  const hub = install({ random: () => 0 }); // reconnect at once
  t.after(() => hub.restore());
  const client = connect({ ...OPTS, ...opts });
  hub.clients.push(client); // closed by hub.restore(), before the fakes go
  return { hub, client, log: record(client) };
}

/** Answers the last command the socket got with an ack carrying `fields`. */
function ackLast(ws, fields = {}) {
  const cmd = ws.commands.at(-1);
  ws.deliver({ type: "ack", id: cmd.id, ...fields });
  return cmd;
}

test("resubscribes each channel with the last offset seen, and the inbox with ?since=", async (t) => {
  const { hub, client, log } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  assert.equal(ws.url, "ws://hub.test/ws?user=alice");
  ws.open({ offset: "i-0" });
  await hub.flush();
  assert.deepEqual(client.offsets(), { inbox: "i-0", channels: {} });

  const a = settle(client.subscribe("a"));
  assert.deepEqual(ackLast(ws, { channel: "a", offset: "a-5" }), { type: "subscribe", channel: "a", id: 1 });
  const b = settle(client.subscribe("b"));
  ackLast(ws, { channel: "b", offset: "b-7" });
  const c = settle(client.subscribe("c"));
  ackLast(ws, { channel: "c", offset: "c-1" });
  await hub.flush();
  assert.equal(a.value.offset, "a-5");
  assert.ok(b.done && c.done);
  assert.deepEqual(client.offsets(), { inbox: "i-0", channels: { a: "a-5", b: "b-7", c: "c-1" } });

  ws.deliver({ type: "message", channel: "a", from: "bob", data: 1, offset: "a-6" });
  ws.deliver({ type: "message", channel: "b", from: "bob", data: 2, offset: "b-8" });
  ws.deliver({ type: "message", channel: "b", from: "bob", data: 3, offset: "b-9" });
  ws.deliver({ type: "direct", from: "bob", data: "psst", offset: "i-3" });
  const un = settle(client.unsubscribe("c"));
  assert.deepEqual(ackLast(ws, { channel: "c" }), { type: "unsubscribe", channel: "c", id: 4 });
  await hub.flush();
  assert.ok(un.done && !un.error);
  assert.equal(log.message.length, 3);
  assert.equal(log.direct.length, 1);
  assert.deepEqual(client.offsets(), { inbox: "i-3", channels: { a: "a-6", b: "b-9" } });

  ws.drop(1006);
  await hub.flush();
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(client.offsets(), { inbox: "i-3", channels: { a: "a-6", b: "b-9" } }, "kept across the disconnect");
  await hub.clock.advance(0);
  assert.equal(hub.sockets.length, 2);
  const ws2 = hub.sockets[1];
  assert.equal(ws2.params.get("since"), "i-3");
  assert.equal(ws2.params.get("user"), "alice");
  assert.deepEqual(ws2.commands, [], "nothing is sent before the welcome");
  ws2.open({ offset: "i-9" }); // the inbox's latest: not where delivery resumes
  await hub.flush();
  const resub = ws2.commands;
  assert.deepEqual(
    resub.map(({ type, channel, since }) => ({ type, channel, since })),
    [
      { type: "subscribe", channel: "a", since: "a-6" },
      { type: "subscribe", channel: "b", since: "b-9" },
    ],
    "every channel but the unsubscribed one, each from its last offset",
  );
  // A recovering ack's offset is the channel's latest: it does not move `since`.
  for (const cmd of resub) ws2.deliver({ type: "ack", id: cmd.id, channel: cmd.channel, offset: cmd.channel + "-99", recovering: true });
  await hub.flush();
  assert.deepEqual(client.offsets(), { inbox: "i-3", channels: { a: "a-6", b: "b-9" } });
  ws2.deliver({ type: "message", channel: "a", data: 4, offset: "a-7" });
  assert.deepEqual(client.offsets().channels, { a: "a-7", b: "b-9" });

  // And again: the offsets of the second session carry over to the third.
  ws2.drop(1006);
  await hub.clock.advance(0);
  const ws3 = hub.sockets[2];
  assert.equal(ws3.params.get("since"), "i-3");
  ws3.open();
  await hub.flush();
  assert.deepEqual(ws3.commands.map((c) => [c.channel, c.since]), [["a", "a-7"], ["b", "b-9"]]);
  assert.deepEqual(log.state, ["connecting", "open", "reconnecting", "open", "reconnecting", "open"]);
});

test("stored offsets: inboxSince and subscribe(c, {since}) go to the server as given", async (t) => {
  const { hub, client } = setup(t, { inboxSince: "i-41" });
  assert.deepEqual(client.offsets(), { inbox: "i-41", channels: {} });
  const p = settle(client.subscribe("room", { since: "r-12" }));
  assert.deepEqual(client.offsets().channels, { room: "r-12" });
  await hub.flush();
  const ws = hub.sockets[0];
  assert.equal(ws.params.get("since"), "i-41");
  ws.open({ offset: "i-50" });
  await hub.flush();
  assert.equal(client.offsets().inbox, "i-41", "the welcome does not override a stored inbox offset");
  const cmd = ws.commands[0];
  assert.deepEqual(cmd, { type: "subscribe", channel: "room", since: "r-12", id: cmd.id });
  ws.deliver({ type: "ack", id: cmd.id, channel: "room", offset: "r-20", recovering: true });
  await hub.flush();
  assert.equal(p.value.recovering, true);
  assert.deepEqual(client.offsets().channels, { room: "r-12" });
});

test("a subscription the server refused is forgotten, and not resubscribed", async (t) => {
  const { hub, client } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  const refused = settle(client.subscribe("secret"));
  const cmd = ws.commands[0];
  ws.deliver({ type: "error", id: cmd.id, code: "forbidden", message: "no" });
  await hub.flush();
  assert.equal(refused.error.code, "forbidden");
  assert.deepEqual(client.offsets().channels, {});
  ws.drop(1006);
  await hub.clock.advance(0);
  hub.sockets[1].open();
  await hub.flush();
  assert.deepEqual(hub.sockets[1].commands, [], "no resubscription of a refused channel");
});

test("unsubscribed while disconnected: not resubscribed, and the unsubscribe resolves without a round trip", async (t) => {
  const { hub, client } = setup(t);
  await hub.flush();
  const ws = hub.sockets[0];
  ws.open();
  await hub.flush();
  for (const ch of ["keep", "drop"]) {
    const p = client.subscribe(ch);
    ws.deliver({ type: "ack", id: ws.commands.at(-1).id, channel: ch, offset: ch + "-1" });
    await p;
  }
  ws.drop(1006);
  await hub.flush();
  const un = settle(client.unsubscribe("drop"));
  assert.deepEqual(client.offsets().channels, { keep: "keep-1" }, "offsets() leaves it out at once");
  await hub.clock.advance(0);
  const ws2 = hub.sockets[1];
  ws2.open();
  await hub.flush();
  assert.deepEqual(ws2.commands.map((c) => [c.type, c.channel, c.since]), [["subscribe", "keep", "keep-1"]]);
  assert.deepEqual(un.value, { type: "ack", channel: "drop" });
  ws2.deliver({ type: "message", channel: "drop", data: "late", offset: "drop-2" });
  assert.deepEqual(client.offsets().channels, { keep: "keep-1" });
});
