#!/usr/bin/env node
// Node `ws` broadcast server for `wsx bench fanout`: every text or binary message from
// one connection goes to every other connection (the contract of wsx's `broadcast`
// example), as in ws's README ("broadcast to all other clients").
//
//   NODE_PATH=tests/peers/node_modules node bench/peers/node-ws/broadcast.js --listen 127.0.0.1:0
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

const i = process.argv.indexOf('--listen');
const addr = i >= 0 ? process.argv[i + 1] : '127.0.0.1:9003';
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(addr.slice(colon + 1));

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 16 << 20 });
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}\n`);
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});
