// wsx chat: the demo page served at GET / by `wsx serve`, built on the browser client
// /wsx.js. Plain JavaScript, no framework, no build step. User data is only ever put in
// the page with textContent (never innerHTML).
//
// URL parameters: ?user=NAME signs in at once; ?transports=sse,poll sets the transports
// to try, in order (default websocket, sse, poll).
//
// Conversations are rooms (`chat:…` channels: subscribe, then presence() for who is there,
// then the presence join/leave events) and direct threads (one per person, from send() and
// the `direct` events). A `gap` event becomes a note in the conversation it concerns (for
// the inbox, the direct threads and the conversation on screen).

import { connect } from "/wsx.js";

const DEFAULT_ROOM = "chat:lobby";
const ALL_TRANSPORTS = ["websocket", "sse", "poll"];
// The hub's names: user ids 1–128 and channels 1–256 of these characters (docs/protocol.md).
const NAME_RE = /^[A-Za-z0-9_\-.:@/=+]{1,128}$/;
const CHANNEL_RE = /^[A-Za-z0-9_\-.:@/=+]{1,256}$/;
const STORE_KEY = "wsx-demo-name";
// The thread of direct messages sent through the HTTP API (no `from`): "(" is in no user id.
const SERVER_KEY = "@(server)";

const STATE_WORDS = {
  idle: "Not connected",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};
const TRANSPORT_WORDS = { websocket: "WebSocket", sse: "Server-Sent Events", poll: "long-polling" };
// Gap reasons (docs/protocol.md, "Gaps") in plain words.
const GAP_WORDS = {
  trimmed: "more messages were sent while you were away than the server keeps in its history",
  expired: "the messages you missed had been kept longer than the server keeps them",
  epoch: "the server restarted, and its history started over",
  overflow: "this connection fell too far behind, and the server dropped what it could not send",
};
const ERROR_WORDS = {
  rate_limited: "you are sending too fast; wait a moment and try again",
  forbidden: "you are not allowed to do that here",
  bad_request: "the server refused it as malformed",
  too_large: "it is too large",
  timeout: "the server did not answer in time",
  disconnected: "the connection dropped",
  unavailable: "the server cannot do it right now",
};
// Avatar colours: white text on each is at least 4.5:1.
const AVATAR_COLOURS = ["#4338ca", "#0f766e", "#b45309", "#be185d", "#6d28d9", "#1d4ed8", "#15803d", "#c2410c", "#0e7490", "#9f1239"];

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const params = new URLSearchParams(location.search);
const transports = parseTransports(params.get("transports"));

/** @type {ReturnType<typeof connect> | null} */
let client = null;
let me = null;
let current = null;          // the key of the conversation on screen
let everOpen = false;        // whether the connection was open once (a later open is a reconnect)
let quietUntil = 0;          // no join/leave notes until then: after a reconnect, everyone comes back
let openWaiters = [];
const convs = new Map();     // key ("chat:lobby", or "@bob" for a direct thread) -> conversation

function parseTransports(value) {
  if (!value) return ALL_TRANSPORTS.slice();
  const list = value.split(",").map((t) => t.trim().toLowerCase()).filter((t) => ALL_TRANSPORTS.includes(t));
  return list.length ? [...new Set(list)] : ALL_TRANSPORTS.slice();
}

function errorWords(err) {
  const code = err && err.code;
  return ERROR_WORDS[code] || (err && err.message) || String(err);
}

// ---- small view helpers -----------------------------------------------------------------

function colourFor(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length];
}

function initials(name) {
  const parts = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  if (parts.length >= 2) return (parts[0][0] + parts[1][0]).toUpperCase();
  return (parts[0] || name).slice(0, 2).toUpperCase();
}

function avatar(name, cls = "") {
  const a = el("span", `avatar ${cls}`.trim(), name === null ? "⚙" : initials(name));
  a.setAttribute("aria-hidden", "true");
  if (name === null) a.classList.add("server");
  else a.style.setProperty("--av", colourFor(name));
  return a;
}

function timeEl(date) {
  const t = el("time", "", date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }));
  t.dateTime = date.toISOString();
  t.title = date.toLocaleString();
  return t;
}

/** The text of a message's `data`: `{text}` or a string as text; anything else as JSON. */
function dataText(data) {
  if (data && typeof data === "object" && typeof data.text === "string") return { text: data.text, json: false };
  if (typeof data === "string") return { text: data, json: false };
  let json;
  try {
    json = JSON.stringify(data);
  } catch {
    json = String(data);
  }
  return { text: json === undefined ? "null" : json, json: true };
}

let announceTimer = 0;
/** Says `text` through the page's polite live region (for what happens off screen). */
function announce(text) {
  const region = $("announcer");
  clearTimeout(announceTimer);
  region.textContent = "";
  announceTimer = setTimeout(() => (region.textContent = text), 50);
}

// ---- conversations ------------------------------------------------------------------------

function makeConv(key, kind, name) {
  const log = el("ol", "log");
  log.id = `log-${convs.size}-${Math.random().toString(36).slice(2, 8)}`;
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-relevant", "additions");
  log.setAttribute("aria-label", kind === "room" ? `Messages in ${name}` : `Direct messages with ${name}`);
  log.tabIndex = 0;
  log.dataset.conv = key;
  log.hidden = true;
  $("logs").append(log);

  const li = el("li");
  const btn = el("button", "conv");
  btn.type = "button";
  btn.dataset.conv = key;
  btn.append(el("span", "conv-icon", kind === "room" ? "#" : "@"));
  btn.firstChild.setAttribute("aria-hidden", "true");
  btn.append(Object.assign(el("span", "conv-name", name), { title: name }));
  const badge = el("span", "badge");
  badge.hidden = true;
  btn.append(badge);
  btn.addEventListener("click", () => {
    select(key);
    closeDrawers();
    $("composer-input").focus();
  });
  li.append(btn);
  (kind === "room" ? $("room-list") : $("dm-list")).append(li);

  const conv = { key, kind, name, log, li, btn, badge, unread: 0, people: new Set(), joined: false, empty: null, stick: true };
  convs.set(key, conv);
  // Whether the view is at the end: new messages (and a resize) keep it there.
  log.addEventListener("scroll", () => {
    if (!log.hidden) conv.stick = nearEnd(log);
  });
  showEmpty(conv);
  refreshDmEmpty();
  return conv;
}

function showEmpty(conv) {
  const li = el("li", "empty");
  if (conv.kind === "room") {
    li.append(el("p", "empty-title", `Welcome to ${conv.name}`));
    li.append(el("p", "", "No messages yet. Say hello: whoever is in this room sees it at once."));
    const tip = el("p");
    tip.append("To watch it live, open this page in another window as someone else: ");
    const a = el("a", "", "open a second chat window");
    const url = new URL(location.href);
    url.search = "";
    url.searchParams.set("user", `guest-${Math.floor(1000 + Math.random() * 9000)}`);
    if (params.get("transports")) url.searchParams.set("transports", params.get("transports"));
    a.href = url.toString();
    a.target = "_blank";
    a.rel = "noopener";
    tip.append(a, ".");
    li.append(tip);
  } else if (conv.key === SERVER_KEY) {
    li.append(el("p", "empty-title", "Direct messages from the server"));
  } else {
    li.append(el("p", "empty-title", `Direct messages with ${conv.name}`));
    li.append(el("p", "", `Only you and ${conv.name} see these messages.`));
  }
  conv.empty = li;
  conv.log.append(li);
}

/** The direct thread with `peer` (null: the server's HTTP API, a thread with no reply). */
function dmConv(peer) {
  const key = peer === null ? SERVER_KEY : `@${peer}`;
  return convs.get(key) || makeConv(key, "dm", peer === null ? "server" : peer);
}

function refreshDmEmpty() {
  $("dm-empty").hidden = [...convs.values()].some((c) => c.kind === "dm");
}

function select(key) {
  const conv = convs.get(key);
  current = conv ? key : null;
  for (const c of convs.values()) {
    c.log.hidden = c !== conv;
    if (c === conv) c.btn.setAttribute("aria-current", "true");
    else c.btn.removeAttribute("aria-current");
  }
  if (conv) {
    conv.unread = 0;
    renderBadge(conv);
    scrollToEnd(conv, true);
  }
  renderHead();
  renderPeople();
}

function renderHead() {
  const conv = convs.get(current);
  const title = $("conv-title");
  const input = $("composer-input");
  const leave = $("leave-btn");
  $("composer").hidden = !conv || conv.key === SERVER_KEY;
  leave.hidden = !conv;
  $("chat").dataset.kind = conv ? conv.kind : "";
  if (!conv) {
    title.textContent = "No room";
    $("conv-sub").textContent = "Join a room to start chatting.";
    return;
  }
  title.textContent = "";
  if (conv.kind === "dm") {
    title.append(el("span", "kind", "Direct · "), conv.name);
    $("conv-sub").textContent =
      conv.key === SERVER_KEY
        ? "Sent through the server’s HTTP API (POST /api/send): there is no one to reply to."
        : `Only you and ${conv.name} see these messages.`;
    leave.textContent = "Close";
    leave.setAttribute("aria-label", `Close the conversation with ${conv.name}`);
  } else {
    title.textContent = conv.name;
    const n = conv.people.size;
    $("conv-sub").textContent = conv.joined ? `${n} ${n === 1 ? "person" : "people"} here` : "Joining…";
    leave.textContent = "Leave room";
    leave.setAttribute("aria-label", `Leave ${conv.name}`);
  }
  const what = conv.kind === "dm" ? `Message ${conv.name} directly` : `Message ${conv.name}`;
  $("composer-label").textContent = what;
  input.placeholder = what;
}

function renderBadge(conv) {
  conv.badge.hidden = conv.unread === 0;
  conv.badge.textContent = String(conv.unread);
  conv.btn.setAttribute("aria-label", conv.unread ? `${conv.name}, ${conv.unread} unread` : conv.name);
  const total = [...convs.values()].reduce((n, c) => n + c.unread, 0);
  const tb = $("rooms-toggle-badge");
  tb.hidden = total === 0;
  tb.textContent = String(total);
}

/** The room whose people the people panel shows: the room on screen, or the last one seen. */
let peopleRoom = null;
function renderPeople() {
  const conv = convs.get(current);
  if (conv && conv.kind === "room") peopleRoom = conv.key;
  const room = convs.get(peopleRoom);
  const list = $("people-list");
  list.textContent = "";
  const people = room ? [...room.people].sort((a, b) => (a === me ? -1 : b === me ? 1 : a.localeCompare(b))) : [];
  $("people-room").textContent = room ? `In ${room.name}` : "People here";
  $("people-room").title = room ? room.name : "";
  $("people-count").textContent = room && room.joined ? `(${people.length})` : "";
  $("people-toggle-count").textContent = room && room.joined ? String(people.length) : "";
  for (const name of people) {
    const li = el("li");
    li.dataset.user = name;
    if (name === me) {
      const row = el("div", "person");
      row.append(avatar(name, "small"), Object.assign(el("span", "person-name", name), { title: name }), el("span", "you", "you"));
      li.append(row);
    } else {
      const b = el("button", "person");
      b.type = "button";
      b.dataset.user = name;
      const label = Object.assign(el("span", "person-name", name), { title: name });
      b.append(avatar(name, "small"), label, el("span", "dm-hint", "Message"));
      b.setAttribute("aria-label", `${name}: send a direct message`);
      b.addEventListener("click", () => {
        const c = dmConv(name);
        select(c.key);
        closeDrawers();
        $("composer-input").focus();
      });
      li.append(b);
    }
    list.append(li);
  }
  const help = $("people-help");
  help.hidden = !room || !room.joined;
  help.textContent =
    people.length > 1 ? "Choose a person to send them a direct message." : "Nobody else is here yet.";
}

function nearEnd(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function scrollToEnd(conv, force) {
  if (force || conv.stick) conv.log.scrollTop = conv.log.scrollHeight;
}

/** Appends `li` to `conv`'s log, keeping the view at the end if it was there. */
function append(conv, li, { counts = true } = {}) {
  if (conv.empty) {
    conv.empty.remove();
    conv.empty = null;
  }
  if (!conv.log.hidden) conv.stick = nearEnd(conv.log);
  conv.log.append(li);
  scrollToEnd(conv);
  if (counts && conv.key !== current) {
    conv.unread += 1;
    renderBadge(conv);
  }
}

function messageItem({ from, data, direct, own, to }) {
  const li = el("li", "msg");
  if (own) li.classList.add("own");
  if (direct) li.classList.add("direct");
  li.dataset.from = from === null ? "" : from;
  li.append(avatar(from));
  const body = el("div", "msg-body");
  const meta = el("div", "msg-meta");
  const who = el("span", "msg-from", from === null ? "server" : from);
  if (from === null) who.classList.add("server");
  meta.append(who);
  if (direct) {
    const tag = el("span", "tag", own ? `Direct to ${to}` : "Direct");
    meta.append(tag);
  }
  if (own) meta.append(el("span", "visually-hidden", "(you)"));
  meta.append(timeEl(new Date()));
  const { text, json } = dataText(data);
  const p = el("p", json ? "msg-text json" : "msg-text", text);
  body.append(meta, p);
  li.append(body);
  return li;
}

function noteItem(text, cls = "") {
  return el("li", `note ${cls}`.trim(), text);
}

function gapItem(gap) {
  const li = el("li", "note gap");
  li.dataset.reason = gap.reason || "";
  li.dataset.channel = gap.channel === null ? "" : gap.channel;
  li.setAttribute("role", "note");
  const icon = el("span", "note-icon", "⚠");
  icon.setAttribute("aria-hidden", "true");
  const text = el("span");
  const what = gap.channel === null ? "Some direct messages may be missing" : "Some messages may be missing";
  const why = GAP_WORDS[gap.reason] || `the server could not deliver them (${gap.reason})`;
  text.append(el("strong", "", `${what}: `), `${why}.`);
  const detail = el("span", "note-detail", "Everything from here on is complete.");
  text.append(detail);
  li.append(icon, text);
  return li;
}

// ---- the connection -----------------------------------------------------------------------

function setConn(state) {
  const box = $("conn");
  box.dataset.state = state;
  $("conn-state").textContent = STATE_WORDS[state] || state;
  const t = client && state !== "idle" ? client.transport : null;
  const badge = $("conn-transport");
  if (t) {
    box.dataset.transport = t;
    badge.hidden = false;
    badge.textContent = t;
    badge.title = `Transport: ${TRANSPORT_WORDS[t] || t}`;
    box.title = `${STATE_WORDS[state] || state} over ${TRANSPORT_WORDS[t] || t}`;
  } else {
    box.dataset.transport = "";
    badge.hidden = true;
    box.title = STATE_WORDS[state] || state;
  }
}

function whenOpen() {
  if (client && $("conn").dataset.state === "open") return Promise.resolve();
  return new Promise((resolve) => openWaiters.push(resolve));
}

function start(name) {
  me = name;
  try {
    localStorage.setItem(STORE_KEY, name);
  } catch {
    /* storage may be off */
  }
  const url = new URL(location.href);
  url.searchParams.set("user", name);
  history.replaceState(null, "", url);
  const back = new URL(location.href);
  back.searchParams.delete("user");
  $("switch-user").href = back.pathname + back.search;

  $("app").dataset.view = "chat";
  setBehindSignin(false);
  $("me").hidden = false;
  $("me-name").textContent = name;
  $("me-name").title = name;
  $("me-avatar").replaceWith(Object.assign(avatar(name), { id: "me-avatar" }));
  document.title = `${name} · wsx chat`;

  client = connect({ user: name, transports });
  window.wsxDemo = { client }; // to try the client from the browser console
  setConn("connecting");
  client.on("state", (s) => {
    setConn(s);
    if (s === "open") {
      const waiters = openWaiters;
      openWaiters = [];
      waiters.forEach((w) => w());
      if (everOpen) {
        quietUntil = Date.now() + 10000;
        refreshPresence();
      }
      everOpen = true;
    }
  });
  client.on("message", onMessage);
  client.on("direct", onDirect);
  client.on("presence", onPresence);
  client.on("gap", onGap);
  // An error the server sent for no request of ours (e.g. a resubscribe refused).
  client.on("error", (e) => {
    const conv = convs.get(e.channel) || convs.get(current);
    if (conv) append(conv, noteItem(`The server said: ${e.message || e.code}`, "problem"), { counts: false });
  });
  joinRoom(DEFAULT_ROOM);
  setTimeout(() => $("composer-input").focus(), 0);
}

function onMessage(m) {
  const conv = convs.get(m.channel);
  if (!conv) return;
  const from = typeof m.from === "string" ? m.from : null;
  append(conv, messageItem({ from, data: m.data, own: from === me }));
}

function onDirect(m) {
  const from = typeof m.from === "string" ? m.from : null;
  const conv = dmConv(from);
  append(conv, messageItem({ from, data: m.data, direct: true }));
  if (conv.key !== current) announce(`New direct message from ${from === null ? "the server" : from}`);
}

function onPresence(p) {
  const conv = convs.get(p.channel);
  if (!conv) return;
  if (p.event === "join") {
    if (conv.people.has(p.user)) return;
    conv.people.add(p.user);
    if (p.user !== me && Date.now() > quietUntil) append(conv, noteItem(`${p.user} joined`, "presence"), { counts: false });
  } else if (p.event === "leave") {
    if (!conv.people.delete(p.user)) return;
    if (p.user !== me && Date.now() > quietUntil) append(conv, noteItem(`${p.user} left`, "presence"), { counts: false });
  }
  if (conv.key === peopleRoom) renderPeople();
  if (conv.key === current) renderHead();
}

function onGap(g) {
  if (g.channel === null || g.channel === undefined) {
    // The inbox: a note in each direct thread, or (with none open yet) in the conversation on screen.
    const threads = [...convs.values()].filter((c) => c.kind === "dm");
    const targets = threads.length ? threads : current ? [convs.get(current)] : [];
    for (const c of targets) append(c, gapItem({ ...g, channel: null }), { counts: false });
    return;
  }
  const conv = convs.get(g.channel);
  if (conv) append(conv, gapItem(g), { counts: false });
}

async function refreshPresence() {
  for (const conv of convs.values()) {
    if (conv.kind !== "room" || !conv.joined) continue;
    try {
      const ack = await client.presence(conv.key);
      conv.people = new Set(ack.users || []);
      conv.people.add(me);
    } catch {
      continue;
    }
    if (conv.key === peopleRoom) renderPeople();
    if (conv.key === current) renderHead();
  }
}

async function joinRoom(channel) {
  const existing = convs.get(channel);
  if (existing) {
    select(channel);
    return true;
  }
  const conv = makeConv(channel, "room", channel);
  select(channel);
  await whenOpen();
  try {
    await client.subscribe(channel);
  } catch (e) {
    removeConv(conv);
    showJoinError(`Could not join ${channel}: ${errorWords(e)}.`);
    return false;
  }
  conv.joined = true;
  conv.people.add(me);
  try {
    const ack = await client.presence(channel);
    for (const u of ack.users || []) conv.people.add(u);
  } catch {
    /* the people list fills from join events */
  }
  if (conv.key === peopleRoom || conv.key === current) renderPeople();
  if (conv.key === current) renderHead();
  conv.li.dataset.joined = "true";
  return true;
}

function removeConv(conv) {
  conv.log.remove();
  conv.li.remove();
  convs.delete(conv.key);
  if (peopleRoom === conv.key) peopleRoom = null;
  if (current === conv.key) {
    const next = convs.get(DEFAULT_ROOM) || [...convs.values()].find((c) => c.kind === "room") || [...convs.values()][0];
    select(next ? next.key : null);
  } else {
    renderPeople();
  }
  refreshDmEmpty();
  renderBadge(conv);
}

async function leaveCurrent() {
  const conv = convs.get(current);
  if (!conv) return;
  if (conv.kind === "room" && conv.joined) {
    try {
      await client.unsubscribe(conv.key);
    } catch (e) {
      if (!(e && e.code === "not_subscribed")) {
        showComposerError(`Could not leave ${conv.name}: ${errorWords(e)}.`);
        return;
      }
    }
  }
  removeConv(conv);
  announce(conv.kind === "room" ? `You left ${conv.name}` : `Closed the conversation with ${conv.name}`);
  if (!current) $("join-input").focus();
  else $("composer-input").focus();
}

function showJoinError(text) {
  $("join-error").textContent = text;
  $("join-input").setAttribute("aria-invalid", text ? "true" : "false");
}

function showComposerError(text) {
  $("composer-error").textContent = text;
}

async function sendCurrent() {
  const input = $("composer-input");
  const text = input.value.trim();
  const conv = convs.get(current);
  if (!text || !conv) return;
  showComposerError("");
  input.value = "";
  autoGrow();
  try {
    if (conv.kind === "room") {
      if (!conv.joined) await whenOpen();
      await client.publish(conv.key, { text });
    } else {
      await client.send([conv.name], { text });
      append(conv, messageItem({ from: me, data: { text }, direct: true, own: true, to: conv.name }));
    }
  } catch (e) {
    showComposerError(`Not sent: ${errorWords(e)}.`);
    if (!input.value) {
      input.value = text;
      autoGrow();
    }
  }
}

function autoGrow() {
  const input = $("composer-input");
  input.style.height = "";
  if (!input.value) return; // one line (a long placeholder is not a reason to grow)
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

// ---- drawers (phone width) ----------------------------------------------------------------

function drawerToggles() {
  return [
    [$("rooms-toggle"), $("rooms-panel")],
    [$("people-toggle"), $("people-panel")],
  ];
}

function openDrawer(toggle, panel) {
  closeDrawers(false);
  panel.classList.add("open");
  toggle.setAttribute("aria-expanded", "true");
  $("scrim").hidden = false;
  // What is behind the drawer is out of reach (Tab stays in the drawer and the top bar).
  $("chat").inert = true;
  const first = panel.querySelector("button, input, a[href]");
  if (first) setTimeout(() => first.focus(), 0);
}

function closeDrawers(returnFocus) {
  for (const [toggle, panel] of drawerToggles()) {
    if (panel.classList.contains("open")) {
      panel.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      if (returnFocus) toggle.focus();
    }
  }
  $("scrim").hidden = true;
  $("chat").inert = false;
}

// ---- wiring -------------------------------------------------------------------------------

/** While the sign-in card is up, what is behind it is out of reach (Tab, screen readers). */
function setBehindSignin(inert) {
  for (const e of document.querySelectorAll(".skip, .topbar, .panel, .chat")) e.inert = inert;
}

function wire() {
  const live = el("div", "visually-hidden");
  live.id = "announcer";
  live.setAttribute("aria-live", "polite");
  document.body.append(live);
  document.querySelectorAll(".host").forEach((h) => (h.textContent = location.host || "HOST"));

  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("signin-name");
    const name = input.value.trim();
    if (!NAME_RE.test(name)) {
      $("signin-error").textContent = name
        ? "That name has characters the server does not accept: use letters, digits or _ - . : @ / = +"
        : "Please type a name.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.setAttribute("aria-invalid", "false");
    start(name);
  });

  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("join-input");
    let room = input.value.trim();
    if (!room) {
      showJoinError("Type a room name, for example random.");
      input.focus();
      return;
    }
    if (!room.startsWith("chat:")) room = `chat:${room}`;
    if (!CHANNEL_RE.test(room)) {
      showJoinError("Room names use letters, digits and _ - . : @ / = + only.");
      input.focus();
      return;
    }
    showJoinError("");
    input.value = "";
    closeDrawers();
    if (await joinRoom(room)) $("composer-input").focus();
  });
  $("join-input").addEventListener("input", () => showJoinError(""));

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendCurrent();
  });
  const input = $("composer-input");
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendCurrent();
    }
  });
  input.addEventListener("input", autoGrow);
  $("leave-btn").addEventListener("click", leaveCurrent);

  for (const [toggle, panel] of drawerToggles()) {
    toggle.addEventListener("click", () => {
      if (panel.classList.contains("open")) closeDrawers(true);
      else openDrawer(toggle, panel);
    });
  }
  $("scrim").addEventListener("click", () => closeDrawers(true));
  for (const b of document.querySelectorAll("[data-closes=drawer]")) b.addEventListener("click", () => closeDrawers(true));
  // A narrower window makes the conversation taller: stay at its end if it was there.
  new ResizeObserver(() => {
    const conv = convs.get(current);
    if (conv) scrollToEnd(conv);
  }).observe($("logs"));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("scrim").hidden) closeDrawers(true);
  });
  // Back at desktop width the panels are always shown: forget an open drawer.
  matchMedia("(min-width: 761px)").addEventListener("change", (e) => e.matches && closeDrawers(false));

  const about = $("about");
  for (const b of document.querySelectorAll("[data-opens=about]")) b.addEventListener("click", () => about.showModal());
  about.addEventListener("click", (e) => {
    if (e.target === about) about.close(); // a click on the backdrop
  });

  setConn("idle");
  setBehindSignin(true);
  const given = params.get("user");
  if (given && NAME_RE.test(given)) {
    start(given);
    return;
  }
  let remembered = "";
  try {
    remembered = localStorage.getItem(STORE_KEY) || "";
  } catch {
    /* storage may be off */
  }
  const nameInput = $("signin-name");
  nameInput.value = given || remembered;
  if (given) $("signin-error").textContent = "That name has characters the server does not accept: use letters, digits or _ - . : @ / = +";
  nameInput.focus();
}

wire();
