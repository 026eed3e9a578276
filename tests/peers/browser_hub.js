#!/usr/bin/env node
// Drives Debian's Chromium (headless, through playwright-core, never a downloaded browser)
// for crates/wsx-cli/tests/browser_hub.rs: pages load from the hub (or from a proxy in
// front of it) and use the real /wsx.js client. One scenario per run:
//
//   node browser_hub.js SCENARIO --hub URL [--proxy URL] [--proxy2 URL] [--secret S]
//
// When the scenario needs the test to act (restart the hub, cut the proxy), it prints
// `ask WHAT` and waits for a line on stdin. At the end it prints one JSON line:
// {"scenario", "error", "checks": [names of the checks that passed], "observed": {…}}.
// Every check throws with what was seen when it fails; every wait is bounded.
'use strict';

const crypto = require('crypto');
const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.WSX_CHROMIUM || '/usr/bin/chromium';
const DEADLINE_MS = 75000;
const WAIT_MS = 15000;

const args = { scenario: process.argv[2] };
for (let i = 3; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

const report = { scenario: args.scenario, error: null, checks: [], observed: {} };

// ---- the test's side of the conversation --------------------------------------------------

const stdin = readline.createInterface({ input: process.stdin });
const answers = [];
const waiting = [];
stdin.on('line', (l) => (waiting.length ? waiting.shift()(l) : answers.push(l)));
async function ask(what) {
  note(`ask ${what}`);
  process.stdout.write(`ask ${what}\n`);
  const line = await Promise.race([
    new Promise((res) => (answers.length ? res(answers.shift()) : waiting.push(res))),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`the test did not answer "ask ${what}"`)), 30000)),
  ]);
  if (line !== 'done') throw new Error(`the test answered "${line}" to "ask ${what}"`);
}

// Progress on stderr, which the test prints when it fails.
const t0 = Date.now();
const note = (what) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);

function check(name, ok, seen) {
  if (!ok) throw new Error(`check ${name} failed; seen: ${JSON.stringify(seen)}`);
  report.checks.push(name);
}

function hs256(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
}

// ---- pages --------------------------------------------------------------------------------

let browser;

// In the page: the client, and everything it emitted, in order.
async function setup(options) {
  const { connect } = await import('/wsx.js');
  // A token provider (a function cannot cross from the driver).
  if (options.asyncToken) {
    const t = options.asyncToken;
    delete options.asyncToken;
    options.token = () => new Promise((res) => setTimeout(() => res(t), 10));
  }
  // Successive tokens, one per connection attempt, the last one repeated.
  if (options.tokens) {
    const ts = options.tokens;
    delete options.tokens;
    window.tokenCalls = 0;
    options.token = () => ts[Math.min(window.tokenCalls++, ts.length - 1)];
  }
  const log = { message: [], direct: [], presence: [], gap: [], state: [], welcome: [], error: [], disconnect: [] };
  const c = connect(options);
  for (const k of Object.keys(log)) c.on(k, (e) => log[k].push(e));
  window.wsx = { c, log };
  return { hasWebSocket: typeof WebSocket, hasEventSource: typeof EventSource };
}

/**
 * A page in a browser context of its own (its own connection pool, like another
 * browser: six held connections per host would otherwise be shared) loaded from
 * `origin`, with a client made with `options`. `without` lists window APIs removed
 * before any script runs.
 */
async function page(name, origin, options, without = []) {
  const context = await browser.newContext();
  const p = await context.newPage();
  if (without.length) {
    await p.addInitScript((names) => {
      for (const n of names) delete window[n];
    }, without);
  }
  p.on('pageerror', (e) => process.stderr.write(`[${name}] page error: ${e}\n`));
  await p.goto(`${origin}/healthz`, { timeout: WAIT_MS });
  const apis = await p.evaluate(setup, options);
  note(`${name}: page loaded from ${origin}`);
  for (const n of without) check(`${name}: no ${n}`, apis[`has${n}`] === 'undefined', apis);
  const pg = {
    name,
    p,
    // A client method's result: {ok: value} or {err: {code, message}}.
    call: (method, ...a) =>
      p.evaluate(
        ([m, a]) =>
          window.wsx.c[m](...a).then(
            (ok) => ({ ok }),
            (e) => ({ err: { code: e.code, message: e.message, name: e.name } }),
          ),
        [method, a],
      ),
    // Starts a call without waiting for it; `result(key)` later.
    start: (key, method, ...a) =>
      p.evaluate(
        ([k, m, a]) => {
          window.wsx.pending = window.wsx.pending || {};
          window.wsx.pending[k] = window.wsx.c[m](...a).then(
            (ok) => ({ ok }),
            (e) => ({ err: { code: e.code, message: e.message } }),
          );
        },
        [key, method, a],
      ),
    result: (key) => p.evaluate((k) => window.wsx.pending[k], key),
    log: () => p.evaluate(() => window.wsx.log),
    get: (prop) => p.evaluate((k) => window.wsx.c[k], prop),
    // Waits until `pred(log, client, arg)` (a function run in the page) is true.
    until: async (what, pred, arg) => {
      try {
        await p.waitForFunction(
          ([src, arg]) => new Function(`return (${src})`)()(window.wsx.log, window.wsx.c, arg),
          [pred.toString(), arg],
          { timeout: WAIT_MS, polling: 50 },
        );
      } catch (e) {
        const log = await p.evaluate(() => window.wsx.log).catch(() => null);
        throw new Error(`${name}: ${what}: not within ${WAIT_MS} ms; log: ${JSON.stringify(log)}`);
      }
    },
  };
  pg.open = async () => {
    await pg.until('open', (log, c) => c.state === 'open');
    note(`${name}: open on ${await pg.get('transport')}`);
  };
  pg.texts = async (channel) =>
    (await pg.log()).message.filter((m) => !channel || m.channel === channel).map((m) => m.data && m.data.text);
  return pg;
}

const ok = (r, what) => {
  if (!r || r.err) throw new Error(`${what}: ${JSON.stringify(r)}`);
  return r.ok;
};
const hasText = (log, c, t) => log.message.some((m) => m.data && m.data.text === t);
const hasTexts = (log, c, ts) => ts.every((t) => log.message.some((m) => m.data && m.data.text === t));
const directs = (log, c, n) => log.direct.length >= n;

async function subscribed(pages, channel) {
  for (const pg of pages) {
    const ack = ok(await pg.call('subscribe', channel), `${pg.name} subscribe ${channel}`);
    check(`${pg.name}: subscribe acked`, ack.type === 'ack' && ack.channel === channel && typeof ack.offset === 'string', ack);
  }
}

// A URL where nothing listens (a port bound, then released).
function deadUrl() {
  return new Promise((res) => {
    const srv = require('net').createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(`http://127.0.0.1:${port}`));
    });
  });
}

// ---- scenarios ----------------------------------------------------------------------------

const scenarios = {
  // Two pages chat over WebSocket.
  async chat() {
    const dead = await deadUrl();
    const alice = await page('alice', args.hub, { user: 'alice' });
    // Bob's first server is gone: his client moves on to the second.
    const bob = await page('bob', args.hub, { user: 'bob', server: [dead, args.hub] });
    await Promise.all([alice.open(), bob.open()]);
    check('both on websocket', (await alice.get('transport')) === 'websocket' && (await bob.get('transport')) === 'websocket');
    check('bob rotated to the live server', (await bob.get('server')) === args.hub, await bob.get('server'));
    // A listener removed with off() hears nothing.
    await alice.p.evaluate(() => {
      window.offHits = 0;
      const f = () => window.offHits++;
      window.wsx.c.on('message', f).off('message', f);
    });
    await subscribed([alice, bob], 'chat:room');
    const pub = ok(await alice.call('publish', 'chat:room', { text: 'hi bob' }), 'alice publish');
    check('publish acked with an offset', typeof pub.offset === 'string', pub);
    ok(await bob.call('publish', 'chat:room', { text: 'hi alice' }), 'bob publish');
    await bob.until('bob sees alice', hasText, 'hi bob');
    await alice.until('alice sees bob', hasText, 'hi alice');
    await alice.until('alice sees bob join', (log) => log.presence.some((e) => e.event === 'join' && e.user === 'bob'));
    const who = ok(await alice.call('presence', 'chat:room'), 'presence');
    check('presence lists both', JSON.stringify(who.users) === '["alice","bob"]', who);
    // Unsubscribed, bob gets nothing more from the room (a later message on another
    // channel shows what would have arrived by then).
    await subscribed([bob], 'side');
    const un = ok(await bob.call('unsubscribe', 'chat:room'), 'bob unsubscribe');
    check('unsubscribe acked', un.type === 'ack' && un.channel === 'chat:room', un);
    ok(await alice.call('publish', 'chat:room', { text: 'bob is gone' }), 'publish after unsubscribe');
    ok(await alice.call('publish', 'side', { text: 'marker' }), 'publish marker');
    await bob.until('bob sees the marker', hasText, 'marker');
    await alice.until('alice sees her own', hasText, 'bob is gone');
    check('bob got nothing after unsubscribing', !(await bob.texts()).includes('bob is gone'), await bob.texts());
    check('off() removed the listener', (await alice.p.evaluate(() => window.offHits)) === 0, null);
    const [a, b] = [await alice.log(), await bob.log()];
    const fromAlice = b.message.find((m) => m.data.text === 'hi bob');
    const fromBob = a.message.find((m) => m.data.text === 'hi alice');
    check('bob got it from alice', fromAlice.from === 'alice' && fromAlice.channel === 'chat:room' && fromAlice.offset === pub.offset, fromAlice);
    check('alice got it from bob', fromBob.from === 'bob', fromBob);
    check('welcome first', a.welcome.length === 1 && a.welcome[0].user === 'alice' && a.state[0] === 'connecting' && a.state.includes('open'), a);
    report.observed = { alice: a, bob: b, presence: who, bobServer: await bob.get('server'), dead };
  },

  // WebSocket removed: SSE; WebSocket and EventSource removed: long-polling.
  async fallback() {
    const ws = await page('wendy', args.hub, { user: 'wendy' });
    const sse = await page('sam', args.hub, { user: 'sam' }, ['WebSocket']);
    const poll = await page('pat', args.hub, { user: 'pat' }, ['WebSocket', 'EventSource']);
    const all = [ws, sse, poll];
    await Promise.all(all.map((p) => p.open()));
    const transports = {};
    for (const p of all) transports[p.name] = await p.get('transport');
    check('transports', transports.wendy === 'websocket' && transports.sam === 'sse' && transports.pat === 'poll', transports);
    await subscribed(all, 'room');
    for (const p of all) ok(await p.call('publish', 'room', { text: `from ${p.name}` }), `${p.name} publish`);
    const texts = all.map((p) => `from ${p.name}`);
    for (const p of all) await p.until(`${p.name} sees all three`, hasTexts, texts);
    ok(await sse.call('send', ['pat'], { text: 'sse to poll' }), 'sam send');
    ok(await poll.call('send', ['sam'], { text: 'poll to sse' }), 'pat send');
    await poll.until('pat gets the direct', directs, 1);
    await sse.until('sam gets the direct', directs, 1);
    const logs = {};
    for (const p of all) logs[p.name] = await p.log();
    for (const p of all) {
      const got = logs[p.name].message.map((m) => `${m.from}:${m.data.text}`).sort();
      check(`${p.name} got each message once, with from`, JSON.stringify(got) === JSON.stringify(all.map((q) => `${q.name}:from ${q.name}`).sort()), got);
    }
    check('poll direct', logs.pat.direct[0].from === 'sam' && logs.pat.direct[0].data.text === 'sse to poll', logs.pat.direct);
    check('sse direct', logs.sam.direct[0].from === 'pat' && logs.sam.direct[0].data.text === 'poll to sse', logs.sam.direct);
    report.observed = { transports, logs };
  },

  // A fallback client that goes away (close(), or its page navigating away) ends its
  // session on the hub at once, so its user leaves presence after the hub's grace. The
  // hub runs with a session_timeout far beyond the waits here.
  async leaving() {
    const wendy = await page('wendy', args.hub, { user: 'wendy' });
    const sam = await page('sam', args.hub, { user: 'sam' }, ['WebSocket']);
    const pat = await page('pat', args.hub, { user: 'pat' }, ['WebSocket', 'EventSource']);
    const all = [wendy, sam, pat];
    await Promise.all(all.map((p) => p.open()));
    await subscribed(all, 'chat:bye');
    const saw = (log, c, [user, event]) =>
      log.presence.some((e) => e.channel === 'chat:bye' && e.user === user && e.event === event);
    await wendy.until('sam and pat join', (log, c) =>
      ['sam', 'pat'].every((u) => log.presence.some((e) => e.user === u && e.event === 'join')));
    await sam.p.evaluate(() => window.wsx.c.close());
    await wendy.until('sam leaves after close()', saw, ['sam', 'leave']);
    // A navigation fires pagehide: the client's beacon ends the poll session.
    await pat.p.goto(`${args.hub}/healthz`, { timeout: WAIT_MS });
    await wendy.until('pat leaves after the page went away', saw, ['pat', 'leave']);
    const users = ok(await wendy.call('presence', 'chat:bye'), 'presence').users;
    check('only wendy is left', JSON.stringify(users) === '["wendy"]', users);
    report.observed = { presence: (await wendy.log()).presence, users };
  },

  // A direct message reaches every tab of its user, whatever the transport, and no one else.
  async direct() {
    const tabs = [
      await page('dana-ws', args.hub, { user: 'dana' }),
      await page('dana-sse', args.hub, { user: 'dana' }, ['WebSocket']),
      await page('dana-poll', args.hub, { user: 'dana' }, ['WebSocket', 'EventSource']),
    ];
    const erin = await page('erin', args.hub, { user: 'erin' });
    const frank = await page('frank', args.hub, { user: 'frank' });
    await Promise.all([...tabs, erin, frank].map((p) => p.open()));
    const transports = [];
    for (const t of tabs) transports.push(await t.get('transport'));
    check('dana on three transports', JSON.stringify(transports) === '["websocket","sse","poll"]', transports);
    const ack = ok(await erin.call('send', ['dana'], { text: 'for dana' }), 'erin send');
    check('send acked with dana inbox offset', ack.offsets && typeof ack.offsets.dana === 'string', ack);
    for (const t of tabs) await t.until(`${t.name} gets it`, directs, 1);
    // A marker sent to frank after: anything for dana that reached him would come first.
    ok(await erin.call('send', ['frank'], { text: 'marker' }), 'erin send marker');
    await frank.until('frank gets the marker', directs, 1);
    const observed = {};
    for (const t of [...tabs, erin, frank]) observed[t.name] = (await t.log()).direct;
    for (const t of tabs) {
      const d = observed[t.name];
      check(`${t.name} got exactly it`, d.length === 1 && d[0].from === 'erin' && d[0].data.text === 'for dana' && d[0].offset === ack.offsets.dana, d);
    }
    check('frank got only the marker', observed.frank.length === 1 && observed.frank[0].data.text === 'marker', observed.frank);
    check('erin got nothing', observed.erin.length === 0, observed.erin);
    report.observed = observed;
  },

  // Two nodes of a cluster on one Redis (--hub and --hub2). The pages know both; the node
  // they are on dies; they move to the other and recover, from the shared history, what
  // was published while they moved: no gap, nothing twice.
  async failover() {
    const opts = (user) => ({ user, server: [args.hub, args.hub2], backoffCap: 1000 });
    const wes = await page('wes', args.hub, opts('wes'));
    const sue = await page('sue', args.hub, opts('sue'), ['WebSocket']);
    const pia = await page('pia', args.hub, opts('pia'), ['WebSocket', 'EventSource']);
    const all = [wes, sue, pia];
    await Promise.all(all.map((p) => p.open()));
    await subscribed(all, 'room');
    ok(await wes.call('publish', 'room', { text: 'before' }), 'publish before');
    for (const p of all) await p.until(`${p.name} sees before`, hasText, 'before');
    await ask('kill');
    for (const p of all) await p.until(`${p.name} recovers what was published while it moved`, hasText, 'while away');
    for (const p of all) {
      const server = await p.get('server');
      check(`${p.name}: on the second node`, String(server).startsWith(args.hub2), server);
    }
    ok(await sue.call('publish', 'room', { text: 'after' }), 'publish after');
    for (const p of all) await p.until(`${p.name} sees after`, hasText, 'after');
    const observed = {};
    for (const p of all) {
      const log = (observed[p.name] = await p.log());
      log.transport = await p.get('transport');
      const texts = log.message.map((m) => m.data.text);
      check(`${p.name}: each message once, in order`, JSON.stringify(texts) === '["before","while away","after"]', texts);
      check(`${p.name}: no gap`, log.gap.length === 0, log.gap);
      check(`${p.name}: a new session on the new node`, log.welcome.length === 2, log.welcome);
    }
    report.observed = observed;
  },

  // The hub restarts on the same port: everyone reconnects, resubscribes, keeps chatting.
  async restart() {
    const opts = (user) => ({ user, backoffCap: 1000 });
    const all = [
      await page('alice', args.hub, opts('alice')),
      await page('bob', args.hub, opts('bob')),
      await page('carol', args.hub, opts('carol'), ['WebSocket']),
      await page('dave', args.hub, opts('dave'), ['WebSocket', 'EventSource']),
    ];
    const [alice, bob] = all;
    await Promise.all(all.map((p) => p.open()));
    await subscribed(all, 'room');
    ok(await alice.call('publish', 'room', { text: 'before' }), 'publish before');
    for (const p of all) await p.until(`${p.name} sees before`, hasText, 'before');
    const sessions = [];
    for (const p of all) sessions.push(await p.get('session'));
    await ask('restart');
    for (const p of all) {
      await p.until(`${p.name} reconnects and resubscribes`, (log, c) => c.state === 'open' && log.gap.some((g) => g.channel === 'room'));
    }
    ok(await alice.call('publish', 'room', { text: 'after' }), 'publish after');
    ok(await bob.call('publish', 'room', { text: 'bob after' }), 'bob publish after');
    for (const p of all) await p.until(`${p.name} sees after`, hasTexts, ['after', 'bob after']);
    const observed = {};
    for (const [i, p] of all.entries()) {
      const log = (observed[p.name] = await p.log());
      log.transport = await p.get('transport');
      const texts = log.message.map((m) => m.data.text);
      check(`${p.name}: each message once`, JSON.stringify(texts) === '["before","after","bob after"]', texts);
      const gap = log.gap.find((g) => g.channel === 'room');
      check(`${p.name}: gap epoch on room`, gap.reason === 'epoch' && typeof gap.since === 'string' && typeof gap.offset === 'string', log.gap);
      check(`${p.name}: gap epoch on the inbox`, log.gap.some((g) => g.channel === null && g.reason === 'epoch'), log.gap);
      check(`${p.name}: a new session`, log.welcome.length === 2 && log.welcome[1].session !== sessions[i], log.welcome);
      const s = log.state.join(',');
      check(`${p.name}: states`, s.startsWith('connecting,open,reconnecting') && s.endsWith('open'), log.state);
      check(`${p.name}: the after message is from alice`, log.message[1].from === 'alice', log.message);
    }
    const back = all.map((p) => observed[p.name].transport).join();
    check('back on the same transports', back === 'websocket,websocket,sse,poll', back);
    report.observed = observed;
  },

  // Pages behind a proxy lose the network for a while: they get exactly what they missed.
  async offline() {
    const opts = (user) => ({ user, backoffCap: 1000 });
    const alice = await page('alice', args.hub, opts('alice'));
    const away = [
      await page('bob', args.proxy, opts('bob')),
      await page('carol', args.proxy, opts('carol'), ['WebSocket']),
      await page('dave', args.proxy, opts('dave'), ['WebSocket', 'EventSource']),
    ];
    await Promise.all([alice, ...away].map((p) => p.open()));
    await subscribed([alice, ...away], 'room');
    ok(await alice.call('publish', 'room', { text: 'm0' }), 'publish m0');
    for (const p of away) await p.until(`${p.name} sees m0`, hasText, 'm0');
    await ask('proxy down');
    for (const p of away) await p.until(`${p.name} notices`, (log, c) => c.state === 'reconnecting');
    for (const t of ['m1', 'm2', 'm3', 'm4']) ok(await alice.call('publish', 'room', { text: t }), `publish ${t}`);
    for (const t of ['d1', 'd2']) ok(await alice.call('send', ['bob', 'carol', 'dave'], { text: t }), `send ${t}`);
    await ask('proxy up');
    for (const p of away) await p.until(`${p.name} catches up`, hasTexts, ['m1', 'm2', 'm3', 'm4']);
    ok(await alice.call('publish', 'room', { text: 'm5' }), 'publish m5');
    for (const p of away) await p.until(`${p.name} sees m5`, hasText, 'm5');
    for (const p of away) await p.until(`${p.name} has both directs`, directs, 2);
    const observed = {};
    for (const p of away) {
      const log = (observed[p.name] = await p.log());
      log.transport = await p.get('transport');
      const texts = log.message.map((m) => m.data.text);
      check(`${p.name}: exactly the messages, once, in order`, JSON.stringify(texts) === '["m0","m1","m2","m3","m4","m5"]', texts);
      const d = log.direct.map((m) => m.data.text);
      check(`${p.name}: exactly the directs`, JSON.stringify(d) === '["d1","d2"]', d);
      check(`${p.name}: no gap`, log.gap.length === 0, log.gap);
      check(`${p.name}: reconnected once`, log.welcome.length === 2 && log.state.filter((s) => s === 'reconnecting').length >= 1, log);
    }
    check('transports', observed.bob.transport === 'websocket' && observed.carol.transport === 'sse' && observed.dave.transport === 'poll', observed);
    report.observed = observed;
  },

  // Something in the way answers the /ws upgrade with 200, or never answers it: SSE.
  async eaten() {
    const alice = await page('alice', args.hub, { user: 'alice' });
    const refused = await page('rita', args.proxy, { user: 'rita', connectTimeout: 2000 });
    const hung = await page('hugo', args.proxy2, { user: 'hugo', connectTimeout: 2000 });
    await Promise.all([alice, refused, hung].map((p) => p.open()));
    const transports = {};
    for (const p of [alice, refused, hung]) transports[p.name] = await p.get('transport');
    check('fell back to sse', transports.alice === 'websocket' && transports.rita === 'sse' && transports.hugo === 'sse', transports);
    await subscribed([alice, refused, hung], 'room');
    ok(await refused.call('publish', 'room', { text: 'from rita' }), 'rita publish');
    ok(await hung.call('publish', 'room', { text: 'from hugo' }), 'hugo publish');
    ok(await alice.call('publish', 'room', { text: 'from alice' }), 'alice publish');
    const texts = ['from rita', 'from hugo', 'from alice'];
    for (const p of [alice, refused, hung]) await p.until(`${p.name} sees all`, hasTexts, texts);
    const observed = { transports };
    for (const p of [alice, refused, hung]) observed[p.name] = await p.log();
    check('one welcome each', [alice, refused, hung].every((p) => observed[p.name].welcome.length === 1), observed);
    report.observed = observed;
  },

  // The server's refusals reject with its code; local limits too.
  async errors() {
    const token = (sub, extra = {}) => hs256(args.secret, { sub, exp: Math.floor(Date.now() / 1000) + 3600, ...extra });
    const alice = await page('alice', args.hub, { token: token('alice', { channels: ['room', 'chat:*'] }) });
    const carol = await page('carol', args.hub, { asyncToken: token('carol') }, ['WebSocket']);
    const bob = await page('bob', args.hub, { token: token('bob') });
    // Tom's first token expires while he is connected (the hub runs with no leeway).
    const short = hs256(args.secret, { sub: 'tom', exp: Math.floor(Date.now() / 1000) + 8 });
    const tom = await page('tom', args.hub, { tokens: [short, token('tom')], backoffCap: 1000 });
    await Promise.all([alice, carol, bob, tom].map((p) => p.open()));
    await subscribed([tom], 'room');
    check('users from the tokens', (await alice.get('user')) === 'alice' && (await carol.get('user')) === 'carol', null);
    await subscribed([alice, bob], 'room');
    const r = {};
    r.forbiddenSubscribe = await alice.call('subscribe', 'secret');
    r.forbiddenPublish = await alice.call('publish', 'secret', { text: 'no' });
    r.forbiddenPresence = await alice.call('presence', 'secret');
    r.tooManyRecipients = await alice.call('send', ['a', 'b', 'c'], { text: 'no' });
    r.notSubscribed = await alice.call('unsubscribe', 'never');
    r.badName = await alice.call('subscribe', 'no spaces allowed');
    r.localTooLarge = await alice.call('publish', 'room', { text: 'x'.repeat(1 << 20) });
    // Over the server's --max-message-size but under the client's default: the
    // WebSocket closes with 1009 and the client reports that publish as too_large.
    r.wsTooLarge = await alice.call('publish', 'room', { text: 'y'.repeat(100000) });
    r.sseTooLarge = await carol.call('publish', 'room', { text: 'z'.repeat(100000) });
    r.sseBadName = await carol.call('subscribe', 'no spaces allowed');
    for (const [k, code] of Object.entries({
      forbiddenSubscribe: 'forbidden',
      forbiddenPublish: 'forbidden',
      forbiddenPresence: 'forbidden',
      tooManyRecipients: 'too_large',
      notSubscribed: 'not_subscribed',
      badName: 'bad_request',
      localTooLarge: 'too_large',
      wsTooLarge: 'too_large',
      sseTooLarge: 'too_large',
      sseBadName: 'bad_request',
    })) {
      check(`${k} rejects with ${code}`, r[k].err && r[k].err.code === code && r[k].err.name === 'WsxError', r[k]);
    }
    // After the 1009 the client reconnected by itself and still has its subscription.
    await alice.open();
    ok(await alice.call('publish', 'room', { text: 'still here' }), 'publish after 1009');
    await bob.until('bob sees alice after the 1009', hasText, 'still here');
    const a = await alice.log();
    check('alice saw a 1009 close', a.disconnect.some((d) => d.code === 1009), a.disconnect);
    check('the big messages never arrived', (await bob.texts('room')).join() === 'still here', await bob.texts('room'));
    r.aliceRoomSub = ok(await alice.call('subscribe', 'room'), 'subscribe room');
    await tom.until('tom is closed with 4001 and back', (log, c) => log.disconnect.some((d) => d.code === 4001) && log.welcome.length === 2 && c.state === 'open');
    ok(await bob.call('publish', 'room', { text: 'for tom' }), 'publish for tom');
    await tom.until('tom, resubscribed, gets it', hasText, 'for tom');
    const tomLog = await tom.log();
    check('tom asked for a token again', (await tom.p.evaluate(() => window.tokenCalls)) >= 2, null);
    check('tom: once', tomLog.message.filter((m) => m.data.text === 'for tom').length === 1, tomLog.message);
    report.observed = { results: r, alice: a, tom: tomLog };
  },

  // Pages from another origin use a hub that allows it (CORS on the fallbacks).
  async cors() {
    const opts = (user) => ({ user, server: args.hub });
    const all = [
      await page('wes', args.origin, opts('wes')),
      await page('sue', args.origin, opts('sue'), ['WebSocket']),
      await page('pol', args.origin, opts('pol'), ['WebSocket', 'EventSource']),
    ];
    await Promise.all(all.map((p) => p.open()));
    const transports = [];
    for (const p of all) transports.push(await p.get('transport'));
    check('cross-origin transports', transports.join() === 'websocket,sse,poll', transports);
    const origins = [];
    for (const p of all) origins.push(await p.p.evaluate(() => location.origin));
    check('the pages are on the other origin', origins.every((o) => o === args.origin) && args.origin !== args.hub, origins);
    await subscribed(all, 'room');
    for (const p of all) ok(await p.call('publish', 'room', { text: `from ${p.name}` }), `${p.name} publish`);
    const texts = all.map((p) => `from ${p.name}`);
    for (const p of all) await p.until(`${p.name} sees all`, hasTexts, texts);
    const observed = { transports };
    for (const p of all) observed[p.name] = await p.log();
    for (const p of all) check(`${p.name}: three messages`, observed[p.name].message.length === 3, observed[p.name].message);
    report.observed = observed;
  },

  // The seam guard: a reconnect whose since is stale (set back by hand here, as a
  // client bug or a stale URL would) replays what the page has; none of it shows twice.
  async dedup() {
    const alice = await page('alice', args.hub, { user: 'alice' });
    const bob = await page('bob', args.hub, { user: 'bob', backoffCap: 1000 }, ['WebSocket']);
    await Promise.all([alice.open(), bob.open()]);
    await subscribed([bob], 'room');
    const inbox0 = await bob.p.evaluate(() => window.wsx.c.offsets().inbox);
    const first = ok(await alice.call('publish', 'room', { text: 'r1' }), 'publish r1');
    for (const t of ['r2', 'r3']) ok(await alice.call('publish', 'room', { text: t }), `publish ${t}`);
    for (const t of ['d1', 'd2']) ok(await alice.call('send', ['bob'], { text: t }), `send ${t}`);
    await bob.until('bob has them', (log) => log.message.length === 3 && log.direct.length === 2);
    await bob.p.evaluate(([room, inbox]) => {
      window.wsx.c._channels.get('room').since = room;
      window.wsx.c._inbox.since = inbox;
    }, [first.offset, inbox0]);
    await ask('disconnect bob');
    await bob.until('bob is back', (log, c) => log.welcome.length === 2 && c.state === 'open');
    ok(await alice.call('publish', 'room', { text: 'r4' }), 'publish r4');
    ok(await alice.call('send', ['bob'], { text: 'd3' }), 'send d3');
    await bob.until('bob gets r4 and d3', (log) => log.message.some((m) => m.data.text === 'r4') && log.direct.some((d) => d.data.text === 'd3'));
    const log = await bob.log();
    check('the server closed bob', log.disconnect.length === 1, log.disconnect);
    const texts = log.message.map((m) => m.data.text);
    check('each message once', JSON.stringify(texts) === '["r1","r2","r3","r4"]', texts);
    const d = log.direct.map((m) => m.data.text);
    check('each direct once', JSON.stringify(d) === '["d1","d2","d3"]', d);
    report.observed = { bob: log };
  },

  // A page stores offsets(), is closed, and a new one resumes from them (a reload).
  async resume() {
    const alice = await page('alice', args.hub, { user: 'alice' });
    const first = await page('bob-first', args.hub, { user: 'bob' }, ['WebSocket']);
    await Promise.all([alice.open(), first.open()]);
    await subscribed([alice, first], 'room');
    ok(await alice.call('publish', 'room', { text: 'r1' }), 'publish r1');
    ok(await alice.call('send', ['bob'], { text: 'd1' }), 'send d1');
    await first.until('bob sees r1 and d1', (log) => log.message.length === 1 && log.direct.length === 1);
    const stored = await first.p.evaluate(() => {
      const o = window.wsx.c.offsets();
      window.wsx.c.close();
      return o;
    });
    check('offsets() has the room and the inbox', typeof stored.channels.room === 'string' && typeof stored.inbox === 'string', stored);
    await first.until('closed', (log, c) => c.state === 'closed');
    ok(await alice.call('publish', 'room', { text: 'r2' }), 'publish r2');
    ok(await alice.call('send', ['bob'], { text: 'd2' }), 'send d2');
    ok(await alice.call('publish', 'room', { text: 'r3' }), 'publish r3');
    const again = await page('bob-again', args.hub, { user: 'bob', inboxSince: stored.inbox, transports: ['poll'] });
    await again.open();
    const ack = ok(await again.call('subscribe', 'room', { since: stored.channels.room }), 'subscribe with since');
    check('a recovering ack', ack.recovering === true, ack);
    await again.until('the missed ones', (log) => log.message.length >= 2 && log.direct.length >= 1);
    ok(await alice.call('publish', 'room', { text: 'r4' }), 'publish r4');
    await again.until('r4', hasText, 'r4');
    const log = await again.log();
    check('exactly what followed the stored offsets', JSON.stringify(log.message.map((m) => m.data.text)) === '["r2","r3","r4"]', log.message);
    check('exactly the directs after the stored inbox offset', JSON.stringify(log.direct.map((m) => m.data.text)) === '["d2"]', log.direct);
    check('no gap', log.gap.length === 0, log.gap);
    report.observed = { stored, again: log, first: await first.log() };
  },

  // Requests made while disconnected wait (bounded) and complete after the reconnect.
  async queue() {
    const opts = (user, extra) => ({ user, backoffCap: 1000, ...extra });
    const bob = await page('bob', args.hub, opts('bob'));
    const alice = await page('alice', args.proxy, opts('alice', { queueSize: 3 }));
    const tina = await page('tina', args.proxy, opts('tina', { requestTimeout: 1500 }), ['WebSocket']);
    const cleo = await page('cleo', args.proxy, opts('cleo'));
    const ivy = await page('ivy', args.proxy, opts('ivy'));
    await Promise.all([bob, alice, tina, cleo, ivy].map((p) => p.open()));
    await subscribed([bob, alice, ivy], 'room');
    // In flight when the connection goes: what the proxy swallows never reaches the hub.
    await ask('stall');
    await ivy.start('i1', 'publish', 'room', { text: 'lost in flight' });
    await ivy.start('i2', 'presence', 'room');
    await ivy.start('i3', 'subscribe', 'room3');
    await ask('proxy down');
    for (const p of [alice, tina, cleo, ivy]) await p.until(`${p.name} notices`, (log, c) => c.state === 'reconnecting');
    await alice.start('p1', 'publish', 'room', { text: 'queued 1' });
    await alice.start('p2', 'subscribe', 'room2');
    await alice.start('p3', 'send', ['bob'], { text: 'queued direct' });
    const r = {};
    r.overflow = await alice.call('publish', 'room', { text: 'one too many' });
    r.timeout = await tina.call('publish', 'room', { text: 'never' });
    await cleo.start('c1', 'publish', 'room', { text: 'closed before sent' });
    await cleo.p.evaluate(() => window.wsx.c.close());
    r.closed = await cleo.result('c1');
    r.afterClose = await cleo.call('presence', 'room');
    await ask('proxy up');
    r.p1 = await alice.result('p1');
    r.p2 = await alice.result('p2');
    r.p3 = await alice.result('p3');
    r.i1 = await ivy.result('i1');
    r.i2 = await ivy.result('i2');
    r.i3 = await ivy.result('i3');
    check('a publish in flight: disconnected', r.i1.err && r.i1.err.code === 'disconnected', r.i1);
    check('a presence in flight: sent again', r.i2.ok && r.i2.ok.users.includes('ivy') && r.i2.ok.users.includes('bob'), r.i2);
    check('a subscribe in flight: sent again', r.i3.ok && r.i3.ok.channel === 'room3', r.i3);
    check('the queued publish completes', r.p1.ok && typeof r.p1.ok.offset === 'string', r.p1);
    check('the queued subscribe completes', r.p2.ok && r.p2.ok.channel === 'room2', r.p2);
    check('the queued send completes', r.p3.ok && typeof r.p3.ok.offsets.bob === 'string', r.p3);
    check('over the queue: disconnected', r.overflow.err && r.overflow.err.code === 'disconnected', r.overflow);
    check('waited too long: timeout', r.timeout.err && r.timeout.err.code === 'timeout', r.timeout);
    check('closed: disconnected', r.closed.err && r.closed.err.code === 'disconnected', r.closed);
    check('after close: disconnected', r.afterClose.err && r.afterClose.err.code === 'disconnected', r.afterClose);
    await bob.until('bob gets the queued publish', hasText, 'queued 1');
    await bob.until('bob gets the queued direct', directs, 1);
    ok(await bob.call('publish', 'room2', { text: 'on room2' }), 'bob publish room2');
    await alice.until('alice is on room2', hasText, 'on room2');
    const b = await bob.log();
    check('bob: the queued ones, once, from alice', b.message.filter((m) => m.data.text === 'queued 1').length === 1 && b.message.find((m) => m.data.text === 'queued 1').from === 'alice' && b.direct.length === 1 && b.direct[0].from === 'alice', b);
    check('the overflow never went out', !b.message.some((m) => m.data.text === 'one too many'), b.message);
    check('the swallowed publish never arrived', !b.message.some((m) => m.data.text === 'lost in flight'), b.message);
    const c = await cleo.log();
    check('cleo closed', c.state[c.state.length - 1] === 'closed', c.state);
    report.observed = { results: r, bob: b, alice: await alice.log(), cleo: c };
  },
};

async function main() {
  const deadline = setTimeout(() => {
    report.error = `the ${args.scenario} scenario did not finish within ${DEADLINE_MS} ms`;
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(1);
  }, DEADLINE_MS);
  try {
    const run = scenarios[args.scenario];
    if (!run) throw new Error(`no scenario ${args.scenario}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 20000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    report.browser = browser.version();
    await run();
  } catch (e) {
    report.error = String(e && e.stack ? e.stack : e);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  clearTimeout(deadline);
  // stdin would keep node alive: exit once the report is out.
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(report.error === null ? 0 : 1));
}

main();
