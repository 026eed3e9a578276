// Backoff: after each failed round the client waits a random delay in
// [0, min(backoffCap, backoffBase * 2^n)) (full jitter), n back to 0 after a connection
// that stayed open 10 s.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, DEFAULTS } from "../wsx.js";
import { install, seeded } from "./fakes.mjs";

const SERVER = "http://hub.test";

/** A hub that is down: every WebSocket is refused and /healthz gets no answer. */
function downHub(t, opts) {
  const hub = install(opts);
  t.after(() => hub.restore());
  hub.onFetch = (req) => req.fail();
  return hub;
}

/** Fails the socket being tried; returns the retry delay the client then chose. */
async function failOnce(hub) {
  const before = hub.clock.log.length;
  hub.sockets.at(-1).drop(1006);
  await hub.flush();
  const timers = hub.clock.log.slice(before);
  assert.equal(timers.length, 1, "one retry timer per failed round");
  return timers[0].ms;
}

/** Waits out `ms` and checks that the next attempt comes then, not earlier. */
async function waitRetry(hub, ms) {
  const n = hub.sockets.length;
  if (ms >= 1) {
    await hub.clock.advance(ms - 1);
    assert.equal(hub.sockets.length, n, "no attempt before the delay is over");
  }
  await hub.clock.advance(1);
  assert.equal(hub.sockets.length, n + 1, "the next attempt once the delay is over");
}

test("the ceiling doubles per failed round up to backoffCap (Math.random ~ 1)", async (t) => {
  const hub = downHub(t, { random: () => 0.999 });
  const c = connect({ server: SERVER, user: "alice", transports: ["websocket"], backoffBase: 100, backoffCap: 1000, connectTimeout: 0, requestTimeout: 0 });
  hub.clients.push(c); // closed by hub.restore(), before the fakes go
  await hub.flush();
  assert.equal(hub.sockets.length, 1);
  const delays = [];
  for (let k = 0; k < 7; k++) {
    const ms = await failOnce(hub);
    delays.push(ms);
    await waitRetry(hub, ms);
  }
  const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
  delays.forEach((ms, k) => {
    assert.ok(ms < ceilings[k] && ms >= 0.99 * ceilings[k], `delay ${k} = ${ms}, ceiling ${ceilings[k]}`);
  });
  assert.equal(c.state, "connecting");
});

test("full jitter: every delay lies in [0, min(cap, base * 2^k)] (seeded random)", async (t) => {
  const random = seeded(42);
  const seen = [];
  const hub = downHub(t, { random: () => (seen.push(random()), seen.at(-1)) });
  const c = connect({ server: SERVER, user: "alice", transports: ["websocket"], backoffBase: 50, backoffCap: 3000, connectTimeout: 0, requestTimeout: 0 });
  hub.clients.push(c); // closed by hub.restore(), before the fakes go
  await hub.flush();
  for (let k = 0; k < 15; k++) {
    const ms = await failOnce(hub);
    const ceiling = Math.min(3000, 50 * 2 ** k);
    assert.ok(ms >= 0 && ms <= ceiling, `delay ${k} = ${ms} outside [0, ${ceiling}]`);
    assert.equal(ms, seen.at(-1) * ceiling, "the delay is random * ceiling");
    await waitRetry(hub, ms);
  }
  // Jitter: the delays are not all at the ceiling.
  assert.ok(new Set(seen).size > 10);
});

test("Math.random() = 0 retries at once; the defaults are backoffBase 500, backoffCap 20000", async (t) => {
  assert.equal(DEFAULTS.backoffBase, 500);
  assert.equal(DEFAULTS.backoffCap, 20000);
  const hub = downHub(t, { random: () => 0 });
  const c = connect({ server: SERVER, user: "alice", transports: ["websocket"], connectTimeout: 0, requestTimeout: 0 });
  hub.clients.push(c); // closed by hub.restore(), before the fakes go
  await hub.flush();
  assert.equal(await failOnce(hub), 0);
  await waitRetry(hub, 0);

  Math.random = () => 0.999999;
  const ceilings = [1000, 2000, 4000, 8000, 16000, 20000, 20000];
  for (const ceiling of ceilings) {
    const ms = await failOnce(hub);
    assert.ok(ms < ceiling && ms > 0.999 * ceiling, `${ms} vs ${ceiling}`);
    await waitRetry(hub, ms);
  }
});

test("the backoff starts over after a connection that stayed open 10 s, not after a short one", async (t) => {
  const hub = downHub(t, { random: () => 0.999 });
  const c = connect({ server: SERVER, user: "alice", transports: ["websocket"], backoffBase: 100, backoffCap: 100000, connectTimeout: 0, requestTimeout: 0 });
  hub.clients.push(c); // closed by hub.restore(), before the fakes go
  await hub.flush();
  const ceilings = [];
  const fail = async () => {
    const ms = await failOnce(hub);
    ceilings.push(Math.round(ms / 0.999));
    await waitRetry(hub, ms);
  };
  await fail(); // 100
  await fail(); // 200
  await fail(); // 400
  // Open for 1 s: not stable, the next ceiling keeps doubling.
  hub.sockets.at(-1).open();
  await hub.flush();
  assert.equal(c.state, "open");
  await hub.clock.advance(1000);
  await fail(); // 800
  assert.equal(c.state, "reconnecting");
  // Open for 10 s: stable, the next ceiling is backoffBase again.
  hub.sockets.at(-1).open();
  await hub.flush();
  assert.equal(c.state, "open");
  await hub.clock.advance(10000);
  await fail(); // 100
  await fail(); // 200
  assert.deepEqual(ceilings, [100, 200, 400, 800, 100, 200]);
});
