#!/usr/bin/env node
// A Node `ws` driver for the hub tests (a client we did not write): the same
// instructions on stdin and events on stdout as hub_driver.py, which documents them.
//
//   open CONN URL [ORIGIN] | send CONN TEXT | repeat CONN N TEXT | big CONN CHANNEL BYTES
//   | close CONN CODE | exit
//   -> CONN open | CONN refused STATUS | CONN failed WHY | CONN recv TEXT
//      | CONN binary N | CONN closed CODE REASON | driver error WHY
//
// A `wss://` URL is verified against the CA certificate in $HUB_DRIVER_CA when it is set.
//
// Usage: node hub_driver.js
'use strict';

const fs = require('fs');
const readline = require('readline');
const WebSocket = require('ws');

const conns = new Map();

function out(line) {
  process.stdout.write(line + '\n');
}

function oneLine(text) {
  return String(text).replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

function open(name, url, origin) {
  return new Promise((resolve) => {
    const options = { handshakeTimeout: 10000, maxPayload: 0 };
    if (origin) options.origin = origin;
    if (url.startsWith('wss:') && process.env.HUB_DRIVER_CA) {
      options.ca = fs.readFileSync(process.env.HUB_DRIVER_CA);
    }
    const ws = new WebSocket(url, options);
    let opened = false;
    let done = false;
    const finish = (line) => {
      if (!done) {
        done = true;
        out(line);
        resolve();
      }
    };
    ws.on('unexpected-response', (_req, res) => {
      finish(`${name} refused ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      opened = true;
      conns.set(name, ws);
      finish(`${name} open`);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) out(`${name} binary ${data.length}`);
      else out(`${name} recv ${oneLine(data.toString('utf8'))}`);
    });
    ws.on('error', (e) => {
      if (!opened) finish(`${name} failed ${oneLine(e.message)}`);
    });
    ws.on('close', (code, reason) => {
      // ws reports 1005 for a close frame without a code and 1006 for none at all.
      if (opened) out(`${name} closed ${code} ${oneLine(reason.toString('utf8'))}`);
    });
  });
}

function send(name, text) {
  const ws = conns.get(name);
  return new Promise((resolve) => {
    if (ws.readyState !== WebSocket.OPEN) return resolve(); // the close is reported
    ws.send(text, () => resolve());
  });
}

async function handle(line) {
  const space = line.indexOf(' ');
  const op = space < 0 ? line : line.slice(0, space);
  const rest = space < 0 ? '' : line.slice(space + 1);
  const split = (n) => {
    // The first n-1 fields, then the rest of the line.
    const parts = [];
    let s = rest;
    for (let i = 0; i < n - 1; i++) {
      const k = s.indexOf(' ');
      parts.push(k < 0 ? s : s.slice(0, k));
      s = k < 0 ? '' : s.slice(k + 1);
    }
    parts.push(s);
    return parts;
  };
  switch (op) {
    case 'open': {
      const [name, url, origin] = rest.split(' ');
      await open(name, url, origin);
      break;
    }
    case 'send': {
      const [name, text] = split(2);
      await send(name, text);
      break;
    }
    case 'repeat': {
      const [name, n, text] = split(3);
      for (let i = 0; i < Number(n); i++) await send(name, text.split('{i}').join(String(i)));
      break;
    }
    case 'big': {
      const [name, channel, n] = rest.split(' ');
      const payload = 'x'.repeat(Number(n));
      await send(name, `{"type":"publish","channel":"${channel}","data":"${payload}"}`);
      break;
    }
    case 'close': {
      const [name, code] = rest.split(' ');
      const ws = conns.get(name);
      if (ws && ws.readyState === WebSocket.OPEN) ws.close(Number(code), 'bye');
      break;
    }
    case 'exit':
      return false;
    default:
      out(`driver error unknown instruction ${JSON.stringify(line)}`);
  }
  return true;
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    let go = true;
    try {
      go = await handle(line);
    } catch (e) {
      out(`driver error ${oneLine(e && e.stack ? e.stack : e)}`);
    }
    if (!go) break;
  }
  for (const ws of conns.values()) ws.terminate();
  process.exit(0);
}

main();
