#!/usr/bin/env node
// A Node `ws` echo server for wsx's interop tests (a peer we did not write).
//
// permessage-deflate is enabled (threshold 0: every message is compressed), so
// compression is negotiated with any client that offers it. Prints `PORT <n>` once
// listening on 127.0.0.1 (a free port), then, after each connection ends, one JSON line
// reporting what it saw: the request's and the response's Sec-WebSocket-Extensions, the
// negotiated extensions, a summary of the messages received, the pings received, and the
// close code and reason received.
//
// Text messages that are commands make the server act instead of echoing:
//   cmd:fragment  send a text message in fragments that split UTF-8 characters
//   cmd:ping      ping the client, wait for its pong, then send "pong-ok"
'use strict';

const { WebSocketServer } = require('ws');

// "fragménted ✓" cut inside "é" (c3 a9) and inside "✓" (e2 9c 93).
const FRAGMENTS = [
  Buffer.from('frag'),
  Buffer.from([0x6d, 0xc3]),
  Buffer.from([0xa9, ...Buffer.from('nted '), 0xe2, 0x9c]),
  Buffer.from([0x93]),
];

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 16 << 20,
});

let responseExtensions = null;
wss.on('headers', (headers) => {
  const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  responseExtensions = line ? line.replace(/^[^:]*:\s*/, '') : null;
});

wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

wss.on('connection', (ws, req) => {
  const report = {
    path: req.url,
    request_extensions: req.headers['sec-websocket-extensions'] ?? null,
    response_extensions: responseExtensions,
    extensions: ws.extensions,
    received: [],
    pings_received: [],
    pong_ok: null,
    error: null,
  };
  ws.on('ping', (data) => report.pings_received.push(data.toString('latin1')));
  ws.on('error', (e) => {
    report.error = String(e);
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === 'cmd:fragment') {
      FRAGMENTS.forEach((f, i) => ws.send(f, { binary: false, fin: i === FRAGMENTS.length - 1 }));
    } else if (text === 'cmd:ping') {
      ws.once('pong', (payload) => {
        report.pong_ok = payload.toString() === 'node-server-ping';
        ws.send('pong-ok');
      });
      ws.ping(Buffer.from('node-server-ping'));
    } else {
      report.received.push(
        isBinary
          ? { type: 'binary', len: data.length, head: data.subarray(0, 16).toString('hex') }
          : { type: 'text', len: data.length, head: text.slice(0, 64) },
      );
      ws.send(data, { binary: isBinary });
    }
  });
  ws.on('close', (code, reason) => {
    report.close_received = { code, reason: reason.toString() };
    process.stdout.write(JSON.stringify(report) + '\n');
  });
});

// Serve until stdin closes (the test's process guard also kills us).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
