#!/usr/bin/env node
// Node `ws` echo server for bench/run.sh: a popular baseline.
//
//   NODE_PATH=tests/peers/node_modules node bench/peers/node-ws/echo.js --listen 127.0.0.1:0
//
// Prints `listening on ADDR` once listening. Node runs JavaScript on one thread, like
// `wsx echo`'s default runtime. permessage-deflate is off (as for every server in the
// suite); ws sets TCP_NODELAY on its sockets and answers pings and closes itself.
'use strict';

const { WebSocketServer } = require('ws');

function listenArg() {
  const i = process.argv.indexOf('--listen');
  const addr = i >= 0 ? process.argv[i + 1] : '127.0.0.1:9002';
  const colon = addr.lastIndexOf(':');
  return { host: addr.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(addr.slice(colon + 1)) };
}

const { host, port } = listenArg();
const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 16 << 20 });
wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}\n`);
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
