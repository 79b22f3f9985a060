/**
 * The ceiling: a `ws` server that frames each published payload once (`Sender.frame`) and
 * writes that one buffer to every subscriber's socket. No parsing, no envelope, no queue
 * accounting: what is left is the syscall per socket per message that every server pays.
 * With BENCH_COALESCE=1 the frames one socket gets within one event-loop turn are joined and
 * written at once (several messages, one syscall): not a peer, a measure of that lever.
 *
 * With BENCH_REDIS_URL the pods of one system relay through Redis the least a relay can: a
 * publish is written to the local members at once and sent with one `PUBLISH` (the origin pod's
 * id, the room and the payload) on one channel every pod subscribes to; the other pods frame it
 * and write it to theirs, the origin skips its own echo. No offset, no history, no ordering
 * across pods: the floor of a WebSocket relay through Redis pub/sub, for the redis benchmark.
 * Usage: node --expose-gc bench/servers/rawws.ts (BENCH_PORT=P [BENCH_COALESCE=1] [BENCH_REDIS_URL=redis://…])
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { installMemoryHook } from '../lib/memory-hook.ts';

/** `Sender` is exported by ws but missing from @types/ws. */
interface SenderStatic {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[];
}
interface SocketWithSender {
  _sender: { sendFrame(list: Buffer[]): void };
}
const Sender = (wsModule as unknown as { Sender: SenderStatic }).Sender;

const TEXT_OPCODE = 1;
const MAX_PAYLOAD_BYTES = 64 * 1024;
const CHAR_SUBSCRIBE = 0x53; // 'S'
const CHAR_PUBLISH = 0x50; // 'P'
const NEWLINE = 0x0a;

const port = Number(process.env.BENCH_PORT ?? 0);
const coalesce = process.env.BENCH_COALESCE === '1';
const redisUrl = process.env.BENCH_REDIS_URL;
const RELAY_CHANNEL = 'rawws-relay';
/** Every relayed message starts with its origin pod's id, so a pod can skip its own echo. */
const POD_ID = randomBytes(8);
const rooms = new Map<string, Set<WebSocket>>();
const server = createServer((_, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: MAX_PAYLOAD_BYTES });

const pending = new Map<WebSocket, Buffer[]>();
let flushScheduled = false;

function enqueue(socket: WebSocket, frame: Buffer): void {
  const frames = pending.get(socket);
  if (frames) frames.push(frame);
  else pending.set(socket, [frame]);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush(): void {
  flushScheduled = false;
  for (const [socket, frames] of pending) {
    const data = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    (socket as unknown as SocketWithSender)._sender.sendFrame([data]);
  }
  pending.clear();
}

/** Writes a `P<room>\n<payload>` command's payload to the room's members on this pod. */
function deliver(command: Buffer): void {
  const split = command.indexOf(NEWLINE);
  const members = rooms.get(command.toString('utf8', 1, split));
  if (!members) return;
  const frame = Sender.frame(command.subarray(split + 1), { fin: true, opcode: TEXT_OPCODE, mask: false, readOnly: false, rsv1: false });
  // One buffer, so each socket gets exactly one write.
  const merged = Buffer.concat(frame);
  if (coalesce) for (const member of members) enqueue(member, merged);
  else for (const member of members) (member as unknown as SocketWithSender)._sender.sendFrame([merged]);
}

const relay = redisUrl ? new Redis(redisUrl) : undefined;
if (relay) {
  const subscriber = relay.duplicate();
  await subscriber.subscribe(RELAY_CHANNEL);
  subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    if (!message.subarray(0, POD_ID.length).equals(POD_ID)) deliver(message.subarray(POD_ID.length));
  });
}

wss.on('connection', (socket) => {
  const joined = new Set<string>();
  socket.on('message', (data: Buffer) => {
    if (data[0] === CHAR_SUBSCRIBE) {
      const room = data.toString('utf8', 1);
      let members = rooms.get(room);
      if (!members) rooms.set(room, (members = new Set()));
      members.add(socket);
      joined.add(room);
      socket.send(`s${room}`);
    } else if (data[0] === CHAR_PUBLISH) {
      deliver(data);
      relay?.publish(RELAY_CHANNEL, Buffer.concat([POD_ID, data]));
    } else {
      socket.close(1003, 'unknown command');
    }
  });
  socket.on('close', () => {
    pending.delete(socket);
    for (const room of joined) rooms.get(room)?.delete(socket);
  });
});

installMemoryHook();
// Exit normally on SIGTERM (the runner's stop), so --cpu-prof gets to write its profile.
process.once('SIGTERM', () => process.exit(0));
server.listen(port, '127.0.0.1');
