// Dedupe at the seam: a replayed message whose offset was delivered already is dropped; a
// `gap` passes through unchanged and its offset is the next `since`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsx.js";
import { install, record } from "./fakes.mjs";

const OPTS = { server: "http://hub.test", user: "alice", transports: ["websocket"], connectTimeout: 0, requestTimeout: 0 };

async function setup(t, opts = {}) {
  const hub = install({ random: () => 0 });
  t.after(() => hub.restore());
  const client = connect({ ...OPTS, ...opts });
  hub.clients.push(client); // closed by hub.restore(), before the fakes go
  const log = record(client);
  await hub.flush();
  hub.sockets[0].open({ offset: "i-0" });
  await hub.flush();
  return { hub, client, log };
}

async function subscribe(hub, client, channel, offset) {
  const ws = hub.sockets.at(-1);
  const p = client.subscribe(channel);
  const cmd = ws.commands.at(-1);
  ws.deliver({ type: "ack", id: cmd.id, channel, offset });
  return p;
}

async function reconnect(hub, fields) {
  hub.sockets.at(-1).drop(1006);
  await hub.clock.advance(0);
  const ws = hub.sockets.at(-1);
  ws.open(fields);
  await hub.flush();
  return ws;
}

const msg = (channel, offset, data = offset) => ({ type: "message", channel, from: "bob", data, offset });

test("a message replayed after a reconnect with an offset already delivered is not emitted twice", async (t) => {
  const { hub, client, log } = await setup(t);
  await subscribe(hub, client, "a", "a-0");
  const ws = hub.sockets[0];
  ws.deliver(msg("a", "a-1"));
  ws.deliver(msg("a", "a-2"));
  ws.deliver(msg("a", "a-2")); // even within one session
  ws.deliver({ type: "direct", from: "bob", data: "d1", offset: "i-1" });
  const ws2 = await reconnect(hub);
  assert.equal(ws2.params.get("since"), "i-1");
  assert.equal(ws2.commands[0].since, "a-2");
  // A replay that overlaps what was delivered: the seam.
  ws2.deliver({ type: "direct", from: "bob", data: "d1", offset: "i-1" });
  ws2.deliver({ type: "direct", from: "bob", data: "d2", offset: "i-2" });
  ws2.deliver(msg("a", "a-1"));
  ws2.deliver(msg("a", "a-2"));
  ws2.deliver(msg("a", "a-3"));
  ws2.deliver(msg("a", "a-3"));
  assert.deepEqual(log.message.map((m) => m.offset), ["a-1", "a-2", "a-3"]);
  assert.deepEqual(log.direct.map((m) => m.data), ["d1", "d2"]);
  assert.deepEqual(log.message[0], msg("a", "a-1"), "the payload is the server's object");
  assert.deepEqual(client.offsets(), { inbox: "i-2", channels: { a: "a-3" } });
});

test("dedupe is per channel, and remembers dedupWindow offsets", async (t) => {
  const { hub, client, log } = await setup(t, { dedupWindow: 2 });
  await subscribe(hub, client, "a", "x-0");
  await subscribe(hub, client, "b", "x-0");
  const ws = hub.sockets[0];
  ws.deliver(msg("a", "x-1"));
  ws.deliver(msg("b", "x-1")); // the same offset on another channel is another message
  ws.deliver(msg("a", "x-2"));
  ws.deliver(msg("a", "x-3"));
  ws.deliver(msg("a", "x-3"));
  ws.deliver(msg("a", "x-1")); // out of the window of 2: delivered again, as documented
  ws.deliver(msg("zzz", "x-4")); // not subscribed: never emitted
  assert.deepEqual(log.message.map((m) => m.channel + ":" + m.offset), ["a:x-1", "b:x-1", "a:x-2", "a:x-3", "a:x-1"]);
});

test("a gap is passed through unchanged and its offset is the next since", async (t) => {
  const { hub, client, log } = await setup(t);
  await subscribe(hub, client, "a", "a-3");
  const ws = hub.sockets[0];
  const gap = { type: "gap", channel: "a", since: "a-3", offset: "a-10", reason: "trimmed" };
  const inboxGap = { type: "gap", channel: null, since: "i-0", offset: "i-7", reason: "expired" };
  ws.deliver(gap);
  ws.deliver(inboxGap);
  assert.deepEqual(log.gap, [gap, inboxGap]);
  assert.deepEqual(client.offsets(), { inbox: "i-7", channels: { a: "a-10" } });
  const ws2 = await reconnect(hub);
  assert.equal(ws2.params.get("since"), "i-7");
  assert.equal(ws2.commands[0].since, "a-10");
  // After the gap, delivery goes on from its offset.
  ws2.deliver(msg("a", "a-11"));
  assert.deepEqual(log.message.map((m) => m.offset), ["a-11"]);
  // An epoch gap on the next seam: same rule.
  const epoch = { type: "gap", channel: "a", since: "a-11", offset: "b-0", reason: "epoch" };
  ws2.deliver(epoch);
  const ws3 = await reconnect(hub);
  assert.equal(ws3.commands[0].since, "b-0");
  assert.deepEqual(log.gap, [gap, inboxGap, epoch]);
  // A gap on a channel not subscribed is not emitted.
  ws3.deliver({ type: "gap", channel: "other", since: "o-1", offset: "o-2", reason: "trimmed" });
  assert.equal(log.gap.length, 3);
});
