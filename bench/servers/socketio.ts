/**
 * The Socket.IO 4 peer: websocket transport only, permessage-deflate off, the in-memory
 * adapter, or @socket.io/redis-adapter when BENCH_REDIS_URL is set. `subscribe` joins a room
 * (acknowledged); `publish` emits to the room, which Socket.IO encodes and frames once.
 * Usage: node --expose-gc bench/servers/socketio.ts (BENCH_PORT=P [BENCH_REDIS_URL=redis://…])
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { installMemoryHook } from '../lib/memory-hook.ts';

const MAX_PAYLOAD_BYTES = 64 * 1024;

const port = Number(process.env.BENCH_PORT ?? 0);
const redisUrl = process.env.BENCH_REDIS_URL;
const server = createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: MAX_PAYLOAD_BYTES,
});

if (redisUrl) {
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
}

io.on('connection', (socket) => {
  socket.on('subscribe', (room: unknown, ack?: (reply: unknown) => void) => {
    if (typeof room !== 'string') return ack?.({ error: 'BAD_REQUEST' });
    socket.join(room);
    ack?.({ ok: true });
  });
  socket.on('publish', (room: unknown, data: unknown) => {
    if (typeof room === 'string') io.to(room).emit('message', data);
  });
});

installMemoryHook();
// Exit normally on SIGTERM (the runner's stop), so --cpu-prof gets to write its profile.
process.once('SIGTERM', () => process.exit(0));
server.listen(port, '127.0.0.1');
