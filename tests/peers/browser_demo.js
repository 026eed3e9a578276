#!/usr/bin/env node
// Drives the demo chat page that `wsx serve` serves at `/` (crates/wsx-hub/assets/) in the
// Debian Chromium (headless, through playwright-core, which never downloads a browser), for
// crates/wsx-cli/tests/browser_demo.rs. Everything goes through the page's UI: typing and
// Enter, clicking people and rooms, reading what the page shows.
//
// Usage: node browser_demo.js --url http://127.0.0.1:PORT [--shots DIR]
//
// The steps: alice and bob (WebSocket) join chat:lobby, see each other in the people list
// and chat; bob sends alice a direct message picked from the people list (with the
// keyboard); alice and bob join chat:random from the "Join a room" field, alice sees its
// unread count, and bob leaves it (alice sees him go); carol (?transports=poll) and dave (a
// page without window.WebSocket, so SSE) chat too; erin signs in through the form (a name
// with a space is refused first) and leaves by closing her page. Then the driver prints
// the line `api` and waits for `published` on stdin (the test publishes to chat:lobby and
// sends to alice through the HTTP API: alice sees both, from "server"), and prints
// `restart` and waits for `restarted` (the test restarts the server on the same port):
// every page must reconnect by itself, show an `epoch` gap note, and chat again. Last:
// accessibility basics measured in the page, screenshots at desktop (1280x800) and phone
// (375x740) width into DIR, and the side panels collapsed into drawers at phone width.
// After those, a `trimmed` gap: dave joins chat:news, his fallback requests are made to
// fail, the driver prints `cut` (the test ends his session with POST /api/disconnect) and,
// once his page says reconnecting, `flood` (the test publishes 60 messages to chat:news,
// over the server's history of 50); let through again, he reconnects, and the page notes
// the gap before the replay of what history kept.
//
// Prints one JSON line at the end: {"error": null | "...", "checks": {...}, "page_errors":
// [uncaught exceptions in the pages], "log": [...]}.
'use strict';

const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.WSX_CHROMIUM || '/usr/bin/chromium';
const DEADLINE_MS = 150000;
const STEP_MS = 20000;
// The server restarts between these: a reconnect may wait out the client's backoff.
const RECONNECT_MS = 45000;

const report = { error: null, browser: null, checks: {}, page_errors: [], log: [] };
const note = (what) => report.log.push(`${new Date().toISOString().slice(11, 23)} ${what}`);
const check = (name, value) => {
  report.checks[name] = value;
  note(`check ${name} = ${JSON.stringify(value)}`);
};

function args(argv) {
  const out = { url: null, shots: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--url') out.url = argv[++i];
    else if (argv[i] === '--shots') out.shots = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!out.url) throw new Error('--url is required');
  return out;
}

const stdinLines = readline.createInterface({ input: process.stdin });
const stdinQueue = [];
const stdinWaiters = [];
stdinLines.on('line', (l) => (stdinWaiters.length ? stdinWaiters.shift()(l) : stdinQueue.push(l)));
function stdinLine(ms) {
  return new Promise((resolve, reject) => {
    if (stdinQueue.length) return resolve(stdinQueue.shift());
    const t = setTimeout(() => reject(new Error(`no line on stdin within ${ms} ms`)), ms);
    stdinWaiters.push((l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
}

/** Prints `request` for the test and waits for its `answer` on stdin. */
async function ask(request, answer) {
  process.stdout.write(`${request}\n`);
  const got = await stdinLine(RECONNECT_MS);
  if (got !== answer) throw new Error(`expected ${JSON.stringify(answer)} on stdin, got ${JSON.stringify(got)}`);
}

/** The conversation on screen (the one log not hidden). */
const LOG = '.log:not([hidden])';

async function open(browser, base, user, { query = '', noWebSocket = false, viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (e) => {
    report.page_errors.push(`${user}: ${e.message}`);
    note(`${user}: page error: ${e.message}`);
  });
  page.on('console', (m) => m.type() === 'error' && note(`${user}: console: ${m.text()}`));
  if (noWebSocket) {
    await page.addInitScript(() => {
      delete window.WebSocket;
    });
  }
  await page.goto(`${base}/?user=${encodeURIComponent(user)}${query}`);
  return page;
}

/** Waits until the page's connection indicator says `state` (and `transport`, if given). */
async function connState(page, state, transport, ms = STEP_MS) {
  const sel = transport ? `#conn[data-state="${state}"][data-transport="${transport}"]` : `#conn[data-state="${state}"]`;
  await page.locator(sel).waitFor({ timeout: ms });
  return {
    state: await page.locator('#conn').getAttribute('data-state'),
    transport: await page.locator('#conn').getAttribute('data-transport'),
    text: (await page.locator('#conn').innerText()).replace(/\s+/g, ' ').trim(),
  };
}

/** Waits until `who` is listed in the page's people panel. */
async function sees(page, who) {
  await page.locator(`#people-list li[data-user="${who}"]`).waitFor({ state: 'attached' });
  return true;
}

async function joined(page, room) {
  await page.locator(`#room-list button[data-conv="${room}"]`).waitFor();
  await page.locator(`#room-list li:has(button[data-conv="${room}"])[data-joined="true"]`).waitFor({ state: 'attached' });
}

/** The people panel's list, as shown. */
async function people(page) {
  return page.locator('#people-list li').evaluateAll((l) => l.map((e) => e.dataset.user));
}

/** Joins a room by typing its name in the "Join a room" field and pressing Enter. */
async function joinFromField(page, name) {
  const field = page.getByLabel('Join a room');
  await field.fill(name);
  await field.press('Enter');
  const room = name.startsWith('chat:') ? name : `chat:${name}`;
  await joined(page, room);
  await page.locator(`#room-list button[data-conv="${room}"][aria-current="true"]`).waitFor();
}

/** Types `text` into the composer and presses Enter. */
async function say(page, text) {
  const box = page.getByRole('textbox', { name: /^Message / });
  await box.click();
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction(() => document.getElementById('composer-input').value === '');
}

/** Waits for a message with `text` from `from` in the conversation on screen: its sender and text as shown. */
async function message(page, from, text, { direct = false } = {}) {
  const sel = `${LOG} li.msg${direct ? '.direct' : ''}[data-from="${from}"]`;
  const item = page.locator(sel).filter({ hasText: text }).last();
  await item.waitFor();
  return {
    from: (await item.locator('.msg-from').innerText()).trim(),
    text: (await item.locator('.msg-text').innerText()).trim(),
    tag: (await item.locator('.tag').count()) ? (await item.locator('.tag').textContent()).trim() : null,
    time: await item.locator('time').getAttribute('datetime'),
  };
}

// Runs in the page: accessibility basics the page promises. Every field has a label; the
// conversation logs are live regions; and the contrast of every visible text against the
// background it sits on meets WCAG AA (4.5:1, 3:1 for large text), colours read from the
// computed styles (elements over a gradient or image are skipped: the logo; placeholders
// are not covered, Chromium does not compute ::placeholder styles here).
function auditPage() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage !== 'none') return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const failures = [];
  let checked = 0;
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || el.closest('.visually-hidden')) continue;
    const cs = getComputedStyle(el);
    if (Number(cs.opacity) < 1) continue;
    const bg = background(el);
    if (!bg) continue;
    let fg = parse(cs.color);
    if (!fg) continue;
    fg = over(fg, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    checked++;
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
  }
  const unlabelled = [...document.querySelectorAll('input, textarea, select')]
    .filter((f) => !(f.labels && f.labels.length) && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby'))
    .map((f) => f.id || f.name);
  const logs = [...document.querySelectorAll('.log')].map((l) => `${l.getAttribute('role')}/${l.getAttribute('aria-live')}`);
  const clickable = [...document.querySelectorAll('[onclick], div[tabindex], span[tabindex]')].map((e) => e.tagName);
  return { contrast_checked: checked, contrast_failures: failures, unlabelled, logs, non_button_clickables: clickable };
}

async function main() {
  const opts = args(process.argv.slice(2));
  const base = opts.url.replace(/\/$/, '');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--font-render-hinting=none'],
  });
  report.browser = browser.version();
  try {
    await run(browser, base, opts);
  } finally {
    await browser.close().catch(() => {});
  }
}

async function run(browser, base, opts) {
  // ---- alice and bob, over WebSocket ----
  const alice = await open(browser, base, 'alice');
  const bob = await open(browser, base, 'bob');
  check('alice_conn', await connState(alice, 'open', 'websocket'));
  check('bob_conn', await connState(bob, 'open', 'websocket'));
  await joined(alice, 'chat:lobby');
  await joined(bob, 'chat:lobby');
  check('room_title', (await alice.locator('#conv-title').innerText()).trim());
  check('alice_sees_bob', await sees(alice, 'bob'));
  check('bob_sees_alice', await sees(bob, 'alice'));

  await say(alice, 'Hi bob! Welcome to wsx chat.');
  check('bob_got_alice', await message(bob, 'alice', 'Hi bob! Welcome to wsx chat.'));
  check('alice_got_own', await message(alice, 'alice', 'Hi bob! Welcome to wsx chat.'));
  await say(bob, 'Hey alice, this is going over a WebSocket.');
  check('alice_got_bob', await message(alice, 'bob', 'Hey alice, this is going over a WebSocket.'));

  // ---- a direct message, bob to alice, picked from bob's people list ----
  // (with the keyboard: the person is a button, Enter opens the thread)
  const pick = bob.getByRole('button', { name: /^alice: send a direct message/ });
  await pick.focus();
  await pick.press('Enter');
  check('bob_dm_title', (await bob.locator('#conv-title').innerText()).trim());
  await say(bob, 'Psst, alice: this one is just for you.');
  check('bob_sees_own_dm', await message(bob, 'bob', 'Psst, alice: this one is just for you.', { direct: true }));
  // alice, still in the lobby, gets a direct thread with bob marked unread; she opens it.
  const thread = alice.locator('#dm-list button[data-conv="@bob"]');
  await thread.waitFor();
  check('alice_dm_unread', (await thread.locator('.badge').innerText()).trim());
  check('alice_lobby_has_no_dm', await alice.locator(`${LOG} li.msg`).filter({ hasText: 'just for you' }).count());
  await thread.click();
  check('alice_got_dm', await message(alice, 'bob', 'Psst, alice: this one is just for you.', { direct: true }));
  await alice.locator('#room-list button[data-conv="chat:lobby"]').click();
  await bob.locator('#room-list button[data-conv="chat:lobby"]').click();

  // ---- another room: joined from the field, its own people and unread count, left again ----
  await joinFromField(alice, 'random');
  check('alice_random_title', (await alice.locator('#conv-title').innerText()).trim());
  check('alice_random_people_alone', await people(alice));
  await joinFromField(bob, 'chat:random');
  await sees(alice, 'bob');
  check('alice_random_people', await people(alice));
  await alice.locator('#room-list button[data-conv="chat:lobby"]').click();
  check('alice_lobby_people', await people(alice));
  await say(bob, 'Anyone in random?');
  const randomItem = alice.locator('#room-list button[data-conv="chat:random"]');
  await randomItem.locator('.badge:not([hidden])').waitFor();
  check('alice_random_unread', (await randomItem.locator('.badge').innerText()).trim());
  check('alice_lobby_has_no_random', await alice.locator(`${LOG} li.msg`).filter({ hasText: 'Anyone in random?' }).count());
  await randomItem.click();
  check('alice_got_random', await message(alice, 'bob', 'Anyone in random?'));
  await bob.getByRole('button', { name: 'Leave chat:random' }).click();
  await bob.locator('#room-list button[data-conv="chat:random"]').waitFor({ state: 'detached' });
  check('bob_after_leave_title', (await bob.locator('#conv-title').innerText()).trim());
  // alice sees bob leave (after the server's presence_grace).
  await alice.locator(`${LOG} li.note.presence`).filter({ hasText: 'bob left' }).waitFor();
  await alice.locator('#people-list li[data-user="bob"]').waitFor({ state: 'detached' });
  check('alice_random_people_after_leave', await people(alice));
  await alice.locator('#room-list button[data-conv="chat:lobby"]').click();

  // ---- carol, long-polling only ----
  const carol = await open(browser, base, 'carol', { query: '&transports=poll' });
  check('carol_conn', await connState(carol, 'open', 'poll'));
  await joined(carol, 'chat:lobby');
  check('alice_sees_carol', await sees(alice, 'carol'));
  check('carol_sees_bob', await sees(carol, 'bob'));
  await say(carol, 'Hello from long-polling: no WebSocket needed.');
  check('alice_got_carol', await message(alice, 'carol', 'Hello from long-polling'));
  check('bob_got_carol', await message(bob, 'carol', 'Hello from long-polling'));

  // ---- dave, in a browser without WebSocket: the client falls back (to SSE, the next in order) ----
  const dave = await open(browser, base, 'dave', { noWebSocket: true });
  const daveConn = await connState(dave, 'open');
  check('dave_conn', daveConn);
  await joined(dave, 'chat:lobby');
  await say(dave, `And this one came over ${daveConn.transport === 'sse' ? 'Server-Sent Events' : daveConn.transport}.`);
  check('carol_got_dave', await message(carol, 'dave', 'And this one came over'));
  await say(alice, 'Everyone is here. Nice!');
  check('carol_got_alice', await message(carol, 'alice', 'Everyone is here. Nice!'));
  check('dave_got_alice', await message(dave, 'alice', 'Everyone is here. Nice!'));

  // ---- erin, with no ?user: the sign-in form (a refused name first), then she goes ----
  const erinContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const erin = await erinContext.newPage();
  erin.setDefaultTimeout(STEP_MS);
  erin.on('pageerror', (e) => report.page_errors.push(`erin: ${e.message}`));
  await erin.goto(`${base}/`);
  const nameField = erin.getByLabel('Your name');
  await nameField.fill('erin smith');
  await nameField.press('Enter');
  await erin.locator('#signin-error:not(:empty)').waitFor();
  check('erin_refused', {
    error: (await erin.locator('#signin-error').innerText()).trim(),
    invalid: await nameField.getAttribute('aria-invalid'),
    conn: await erin.locator('#conn').getAttribute('data-state'),
  });
  await nameField.fill('erin');
  await nameField.press('Enter');
  check('erin_conn', await connState(erin, 'open', 'websocket'));
  await joined(erin, 'chat:lobby');
  check('erin_signed_in', {
    name: (await erin.locator('#me-name').innerText()).trim(),
    url_user: new URL(erin.url()).searchParams.get('user'),
    signin_visible: await erin.locator('#signin').isVisible(),
  });
  check('alice_sees_erin', await sees(alice, 'erin'));
  await erinContext.close();
  await alice.locator('#people-list li[data-user="erin"]').waitFor({ state: 'detached' });
  check('alice_saw_erin_leave', (await alice.locator(`${LOG} li.note.presence`).filter({ hasText: 'erin left' }).count()) === 1);

  // ---- the HTTP API: a publish and a send with no sender ----
  await ask('api', 'published');
  check('alice_got_api', await message(alice, '', 'Hello from the HTTP API.'));
  const serverThread = alice.locator('#dm-list button[data-conv="@(server)"]');
  await serverThread.waitFor();
  await serverThread.click();
  check('alice_got_api_dm', await message(alice, '', 'A direct message through the HTTP API.', { direct: true }));
  check('api_thread_composer_hidden', await alice.locator('#composer').isHidden());
  await alice.locator('#room-list button[data-conv="chat:lobby"]').click();

  // ---- the server restarts: each page reconnects by itself and notes an epoch gap ----
  await ask('restart', 'restarted');
  const pages = { alice, bob, carol, dave };
  for (const [who, page] of Object.entries(pages)) {
    const gap = page.locator(`${LOG} li.note.gap[data-channel="chat:lobby"]`).first();
    await gap.waitFor({ timeout: RECONNECT_MS });
    check(`${who}_gap`, {
      reason: await gap.getAttribute('data-reason'),
      text: (await gap.innerText()).replace(/\s+/g, ' ').trim(),
    });
    check(`${who}_conn_after_restart`, await connState(page, 'open', null, RECONNECT_MS));
  }
  // The resubscribed pages chat again, and see who is back.
  for (const who of ['bob', 'carol', 'dave']) await sees(alice, who);
  await say(alice, 'The server restarted. Still here?');
  check('bob_got_after_restart', await message(bob, 'alice', 'The server restarted. Still here?'));
  check('carol_got_after_restart', await message(carol, 'alice', 'The server restarted. Still here?'));
  await say(bob, 'Yes: reconnected on my own.');
  check('alice_got_after_restart', await message(alice, 'bob', 'Yes: reconnected on my own.'));
  check('alice_people', await people(alice));

  // ---- accessibility basics, in the light and the dark colour scheme ----
  check('audit_desktop_light', await alice.evaluate(auditPage));
  await alice.emulateMedia({ colorScheme: 'dark' });
  check('audit_desktop_dark', await alice.evaluate(auditPage));
  await alice.emulateMedia({ colorScheme: 'light' });
  // The keyboard: Tab from the message box reaches the Send button, with a visible focus ring.
  await alice.locator('#composer-input').focus();
  await alice.keyboard.press('Tab');
  check('tab_after_composer', await alice.evaluate(() => {
    const a = document.activeElement;
    const cs = getComputedStyle(a);
    return { id: a.id, tag: a.tagName, outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 };
  }));

  // ---- screenshots, and the layout at phone width ----
  await alice.locator('#composer-input').fill('');
  await alice.locator('#composer-input').focus();
  if (opts.shots) await alice.screenshot({ path: path.join(opts.shots, 'demo-desktop.png') });
  check('desktop_panels_visible', {
    rooms: await alice.locator('#rooms-panel').isVisible(),
    people: await alice.locator('#people-panel').isVisible(),
  });
  await bob.setViewportSize({ width: 375, height: 740 });
  await bob.locator('#people-toggle').waitFor();
  await bob.locator('#composer-input').blur();
  // The side panels slide out of view (a short transition).
  await bob.locator('#people-panel').waitFor({ state: 'hidden' });
  await bob.locator('#rooms-panel').waitFor({ state: 'hidden' });
  check('phone_layout', {
    people_panel_visible: await bob.locator('#people-panel').isVisible(),
    rooms_panel_visible: await bob.locator('#rooms-panel').isVisible(),
    people_toggle_visible: await bob.locator('#people-toggle').isVisible(),
    page_width: await bob.evaluate(() => document.documentElement.scrollWidth),
  });
  if (opts.shots) await bob.screenshot({ path: path.join(opts.shots, 'demo-phone.png') });
  // The people drawer opens from its button, with the people in it, and Escape closes it.
  await bob.locator('#people-toggle').click();
  await bob.locator('#people-panel.open').waitFor();
  await bob.waitForFunction(() => getComputedStyle(document.getElementById('people-panel')).transform === 'none');
  check('phone_drawer', {
    expanded: await bob.locator('#people-toggle').getAttribute('aria-expanded'),
    visible: await bob.locator('#people-panel').isVisible(),
    people: await bob.locator('#people-list li').evaluateAll((l) => l.map((e) => e.dataset.user)),
  });
  await bob.keyboard.press('Escape');
  await bob.locator('#people-panel:not(.open)').waitFor({ state: 'attached' });
  check('phone_drawer_closed', await bob.locator('#people-toggle').getAttribute('aria-expanded'));
  check('audit_phone_light', await bob.evaluate(auditPage));

  // ---- a trimmed gap: dave misses more of chat:news than its history keeps ----
  // (after the screenshots, which need not show dave leaving and coming back)
  await joinFromField(dave, 'news');
  // Nowhere to reconnect to: his fallback requests fail (WebSocket he has none).
  await dave.route(/\/(sse|poll|emulation)(\?|$)/, (route) => route.abort());
  await ask('cut', 'cut'); // the test ends his session: POST /api/disconnect
  await connState(dave, 'reconnecting', null, RECONNECT_MS);
  await ask('flood', 'flooded'); // the test publishes more to chat:news than history keeps
  await dave.unroute(/\/(sse|poll|emulation)(\?|$)/);
  const trimmed = dave.locator(`${LOG} li.note.gap[data-channel="chat:news"]`).first();
  await trimmed.waitFor({ timeout: RECONNECT_MS });
  await dave.locator(`${LOG} li.msg`).filter({ hasText: 'News item 60.' }).waitFor();
  check('dave_news_gap', {
    reason: await trimmed.getAttribute('data-reason'),
    text: (await trimmed.innerText()).replace(/\s+/g, ' ').trim(),
  });
  check('dave_news_replayed', await dave.evaluate(() => {
    const items = [...document.querySelectorAll('.log:not([hidden]) > li')];
    const texts = items.filter((li) => li.matches('.msg')).map((li) => li.querySelector('.msg-text').textContent);
    const gapAt = items.findIndex((li) => li.matches('.note.gap'));
    const firstMsgAt = items.findIndex((li) => li.matches('.msg'));
    return { count: texts.length, first: texts[0], last: texts[texts.length - 1], gap_before_replay: gapAt >= 0 && gapAt < firstMsgAt };
  }));
  check('dave_conn_after_gap', await connState(dave, 'open', 'sse'));
}

const deadline = setTimeout(() => {
  report.error = `the demo test did not finish within ${DEADLINE_MS} ms`;
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(1);
}, DEADLINE_MS);

main()
  .catch((e) => {
    report.error = String(e && e.stack ? e.stack : e);
  })
  .finally(() => {
    clearTimeout(deadline);
    stdinLines.close();
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exitCode = report.error === null ? 0 : 1;
  });
