#!/usr/bin/env node
// Socket.IO 4 as a push hub for `wsx bench fanout --kind socketio`, one Node process.
//
//   subscribe: a Socket.IO client joins a room: the event `join` with the room's name
//              (acknowledged, so the client knows it is in), or `?room=NAME` in the URL
//   publish:   POST /publish {"channel":"bench","data":ANY} -> 200 {"offset":"N"}
//              emits `message` with DATA to the room; the hub's contract, so the load
//              generator publishes the same bodies to both
//
//   npm ci --prefix bench/peers/socketio
//   node bench/peers/socketio/server.js --listen 127.0.0.1:0    # prints `listening on ADDR`
//
// Cluster mode (bench/cluster.sh): with REDIS_URL set (redis://HOST:PORT), the process uses
// @socket.io/redis-adapter over two `redis` (node-redis 4) clients, one publishing and one
// subscribed, so that several of these processes act as one hub: a publish on any of them
// reaches the room's members on all. The adapter's defaults (key `socket.io`, MessagePack
// between nodes). It prints `listening on ADDR` only once both clients are connected, and
// exits if Redis cannot be reached at startup. Without REDIS_URL: one process, the in-memory
// adapter, exactly as bench/hub.sh runs it.
//
//   REDIS_URL=redis://127.0.0.1:6379 node bench/peers/socketio/server.js --listen 127.0.0.1:0
//
// Socket.IO's defaults otherwise (heartbeat 25 s / 20 s, no compression: permessage-deflate
// is off by default since 4.0): what a user who picks it gets.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const redisUrl = process.env.REDIS_URL || '';

const i = process.argv.indexOf('--listen');
const addr = i >= 0 ? process.argv[i + 1] : '127.0.0.1:3000';
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(addr.slice(colon + 1));

let published = 0;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let msg;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      msg = null;
    }
    if (!msg || typeof msg.channel !== 'string' || !('data' in msg)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":"expected {\\"channel\\":STRING,\\"data\\":ANY}"}');
      return;
    }
    io.to(msg.channel).emit('message', msg.data);
    published += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"offset":"${published}"}`);
  });
});
// The load generator keeps one publishing connection open for a whole run.
server.keepAliveTimeout = 600_000;

const io = new Server(server, { serveClient: false });
io.on('connection', (socket) => {
  const room = socket.handshake.query.room;
  if (typeof room === 'string' && room !== '') socket.join(room);
  socket.on('join', (name, ack) => {
    if (typeof name === 'string' && name !== '') socket.join(name);
    if (typeof ack === 'function') ack({ room: name });
  });
});

function listen() {
  server.listen(port, host, () => {
    const a = server.address();
    const where = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    if (redisUrl) process.stderr.write(`redis adapter: ${redisUrl}\n`);
    process.stdout.write(`listening on ${where}:${a.port}\n`);
  });
}

if (redisUrl) {
  // Required only here, so that the single-node mode needs nothing but socket.io.
  const { createClient } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  // No reconnection: a benchmark whose Redis went away is over, not to be papered over.
  const pubClient = createClient({ url: redisUrl, socket: { reconnectStrategy: false } });
  const subClient = pubClient.duplicate();
  for (const [name, c] of [['publishing', pubClient], ['subscribed', subClient]]) {
    c.on('error', (e) => {
      process.stderr.write(`redis (${name} client): ${e.message}\n`);
      process.exit(1);
    });
  }
  Promise.all([pubClient.connect(), subClient.connect()]).then(
    () => {
      io.adapter(createAdapter(pubClient, subClient));
      listen();
    },
    (e) => {
      process.stderr.write(`cannot connect to ${redisUrl}: ${e.message}\n`);
      process.exit(1);
    },
  );
} else {
  listen();
}
