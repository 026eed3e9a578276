#!/usr/bin/env node
// A Node `ws` client for wsx's interop tests (a peer we did not write).
//
// Connects to URL (an echo server) with ws's defaults (which offer permessage-deflate),
// then checks in order that each of these comes back unchanged: multi-byte text, binary,
// a 1 MiB binary message, a text message sent in fragments that split UTF-8 characters,
// and a fragmented binary message. Then it pings and waits for the pong, and closes with
// 1000 "node bye". Prints one JSON line with the negotiated extensions, the checks, the
// pings the server sent us, and the close code and reason received. Exits 1 (with the
// JSON's "error" set) if a check fails.
//
// Usage: node node_client.js URL
'use strict';

const WebSocket = require('ws');

const TEXT = 'héllo wörld — καλημέρα — 你好 — 🦀🚀';
const BINARY = Buffer.from([...Array(256).keys()]);
const LARGE_LEN = 1 << 20;
const TEXT_FRAGMENTS = [
  Buffer.from('frag'),
  Buffer.from([0x6d, 0xc3]),
  Buffer.from([0xa9, ...Buffer.from('nted '), 0xe2, 0x9c]),
  Buffer.from([0x93]),
];
const BINARY_FRAGMENTS = [Buffer.from([0, 1]), Buffer.from([2]), Buffer.from([3, 4])];

// The large message: the same formula as the Rust test's.
function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 10)) % 251;
  return b;
}

function withTimeout(promise, what, ms = 10000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main(url) {
  const report = { peer: `node ws ${require('ws/package.json').version}`, echo_ok: [], error: null };
  const ws = new WebSocket(url, { maxPayload: 16 << 20 });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    if (waiters.length) waiters.shift()(m);
    else inbox.push(m);
  });
  const next = () => withTimeout(new Promise((r) => (inbox.length ? r(inbox.shift()) : waiters.push(r))), 'a message');
  report.pings_received = [];
  ws.on('ping', (data) => report.pings_received.push(data.toString('latin1')));
  ws.on('upgrade', (res) => {
    report.response_extensions = res.headers['sec-websocket-extensions'] ?? null;
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  let failure = null;
  ws.on('error', (e) => {
    failure = e;
  });

  const expect = async (sent, isBinary, what) => {
    const m = await next();
    if (m.isBinary !== isBinary || !Buffer.from(m.data).equals(Buffer.from(sent))) {
      throw new Error(`${what}: echo differs (got ${m.isBinary ? 'binary' : 'text'} of ${m.data.length})`);
    }
    report.echo_ok.push(what);
  };

  try {
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }), 'open');
    report.extensions = ws.extensions;
    ws.send(TEXT);
    await expect(Buffer.from(TEXT), false, 'text');
    ws.send(BINARY);
    await expect(BINARY, true, 'binary');
    const large = pattern(LARGE_LEN);
    ws.send(large);
    await expect(large, true, 'large');
    TEXT_FRAGMENTS.forEach((f, i) => ws.send(f, { binary: false, fin: i === TEXT_FRAGMENTS.length - 1 }));
    await expect(Buffer.concat(TEXT_FRAGMENTS), false, 'fragmented_text');
    BINARY_FRAGMENTS.forEach((f, i) => ws.send(f, { binary: true, fin: i === BINARY_FRAGMENTS.length - 1 }));
    await expect(Buffer.concat(BINARY_FRAGMENTS), true, 'fragmented_binary');
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping(Buffer.from('node-client-ping'));
    report.pong_payload = (await withTimeout(pong, 'the pong')).toString();
    report.close_sent = { code: 1000, reason: 'node bye' };
    ws.close(1000, 'node bye');
    report.close_received = await withTimeout(closed, 'the close');
    if (failure) throw failure;
  } catch (e) {
    report.error = String(e && e.stack ? e.stack : e);
    ws.terminate();
  }
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exitCode = report.error === null ? 0 : 1;
}

main(process.argv[2]);
