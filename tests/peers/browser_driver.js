#!/usr/bin/env node
// Drives the Debian Chromium (headless, through playwright-core, which never downloads a
// browser of its own) for wsx's browser interop test: for each URL, a page uses the
// browser's own `WebSocket` to send text and binary messages, checks the echoes, reads
// `ws.extensions`, and closes with 1000. Prints one JSON line: the browser version, the
// certificate trust used, and one result per URL, including the handshake headers as
// seen through the DevTools protocol.
//
// Usage: node browser_driver.js [--cert CERT.pem] URL...
//
// With --cert, Chromium is told to accept the server certificate whose public key
// (SubjectPublicKeyInfo) has this SHA-256, with --ignore-certificate-errors-spki-list:
// only that key is trusted, not every certificate as --ignore-certificate-errors would.
// Chromium honours the flag only with a --user-data-dir, which a persistent context
// provides (a fresh temporary one per run).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.WSX_CHROMIUM || '/usr/bin/chromium';
const DEADLINE_MS = 45000;

function spkiHash(certPath) {
  const cert = new crypto.X509Certificate(fs.readFileSync(certPath));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

// Runs in the page.
async function pageTest({ url }) {
  const r = { url, origin: self.origin, error: null };
  const timeout = (ms, what) =>
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms));
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  const waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift()(e.data) : inbox.push(e.data));
  const next = (what) =>
    Promise.race([new Promise((res) => (inbox.length ? res(inbox.shift()) : waiters.push(res))), timeout(10000, what)]);
  const closed = new Promise((res) => {
    ws.onclose = (e) => res({ code: e.code, reason: e.reason, wasClean: e.wasClean });
  });
  const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  try {
    await Promise.race([
      new Promise((res, rej) => {
        ws.onopen = res;
        ws.onerror = () => rej(new Error('WebSocket error before open'));
      }),
      timeout(10000, 'open'),
    ]);
    r.extensions = ws.extensions;
    r.protocol = ws.protocol;
    r.checks = {};

    const text = 'héllo from Chromium — καλημέρα 🌐 ✓';
    ws.send(text);
    r.checks.text = (await next('the text echo')) === text;

    const binary = new Uint8Array(256).map((_, i) => i);
    ws.send(binary);
    const b = await next('the binary echo');
    r.checks.binary = b instanceof ArrayBuffer && sameBytes(new Uint8Array(b), binary);

    const large = new Uint8Array(512 << 10).map((_, i) => (i * 7 + (i >> 10)) % 251);
    ws.send(large.buffer);
    const l = await next('the large echo');
    r.checks.large = l instanceof ArrayBuffer && sameBytes(new Uint8Array(l), large);

    const compressible = 'compress me, wsx! '.repeat(2000);
    ws.send(compressible);
    r.checks.compressible_text = (await next('the compressible echo')) === compressible;

    ws.close(1000, 'page done');
    r.close = await Promise.race([closed, timeout(10000, 'the close')]);
  } catch (e) {
    r.error = String(e);
  }
  return r;
}

async function main(argv) {
  const report = { browser: null, trust: null, results: [], error: null };
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  const urls = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cert') {
      const hash = spkiHash(argv[++i]);
      args.push(`--ignore-certificate-errors-spki-list=${hash}`);
      report.trust = { flag: '--ignore-certificate-errors-spki-list', spki_sha256: hash };
    } else {
      urls.push(argv[i]);
    }
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsx-chromium-'));
  let context;
  const deadline = setTimeout(() => {
    report.error = `browser test did not finish within ${DEADLINE_MS} ms`;
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(1);
  }, DEADLINE_MS);
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args,
      timeout: 20000,
    });
    report.browser = context.browser() ? context.browser().version() : null;
    const page = context.pages()[0] || (await context.newPage());
    // The handshake as the browser sent and received it, through the DevTools protocol.
    const handshakes = new Map();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', (e) => handshakes.set(e.requestId, { url: e.url }));
    cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
      const h = handshakes.get(e.requestId) || {};
      h.request_headers = e.request.headers;
      handshakes.set(e.requestId, h);
    });
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = handshakes.get(e.requestId) || {};
      h.status = e.response.status;
      h.response_headers = e.response.headers;
      handshakes.set(e.requestId, h);
    });
    await page.setContent('<!doctype html><title>wsx browser interop</title>');
    for (const url of urls) {
      const result = await page.evaluate(pageTest, { url });
      result.handshake = [...handshakes.values()].find((h) => h.url === url) || null;
      report.results.push(result);
    }
  } catch (e) {
    report.error = String(e && e.stack ? e.stack : e);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  clearTimeout(deadline);
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exitCode = report.error === null && report.results.every((r) => r.error === null) ? 0 : 1;
}

main(process.argv.slice(2));
