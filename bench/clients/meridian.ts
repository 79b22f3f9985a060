/** Meridian's wire protocol v1 (DESIGN §3): connect with a JWT, subscribe (with recover), publish with an id. */
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { mintToken } from '../lib/jwt.ts';
import { BENCH_FIELD, type BenchConnection, type ClientProtocol, type ConnectOptions, type StreamPosition } from './types.ts';
import { PendingReplies } from './pending.ts';
import { closeSocket, openSocket } from './socket.ts';

/** Every message push starts so; a reply starts with its id (and may carry recovered messages). */
const MESSAGE_PREFIX = Buffer.from('{"op":"message"');
const EPOCH_FIELD = Buffer.from('"epoch":"');
const OFFSET_FIELD = Buffer.from('"offset":');
const QUOTE = 0x22;

interface Reply {
  id?: number;
  op?: string;
  code?: string;
  message?: string;
  /** With OVERLOADED: how long to wait before trying again. */
  retryAfterMs?: number;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  messages?: { epoch: string; offset: number; data: unknown }[];
}

/** The epoch and offset of a message push, read in place (they precede `data`). */
function pushPosition(frame: Buffer, before: number): StreamPosition | undefined {
  const epochAt = frame.indexOf(EPOCH_FIELD);
  const offsetAt = frame.indexOf(OFFSET_FIELD);
  if (epochAt < 0 || offsetAt < 0 || offsetAt > before) return undefined;
  const epochStart = epochAt + EPOCH_FIELD.length;
  const epoch = frame.toString('latin1', epochStart, frame.indexOf(QUOTE, epochStart));
  let offset = 0;
  for (let i = offsetAt + OFFSET_FIELD.length; frame[i] >= 0x30 && frame[i] <= 0x39; i++) offset = offset * 10 + (frame[i] - 0x30);
  return { epoch, offset };
}

export const connectMeridian: ClientProtocol = async (options: ConnectOptions): Promise<BenchConnection> => {
  if (!options.secret) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, 'Meridian clients need the gateway JWT secret');
  const token = await mintToken({ secret: options.secret, user: options.user });
  const pending = new PendingReplies();
  let nextId = 1;
  let closing = false;
  let last: StreamPosition | undefined;

  const onMessage = (data: Buffer): void => {
    const benchAt = data.indexOf(BENCH_FIELD);
    if (benchAt !== -1 && data.subarray(0, MESSAGE_PREFIX.length).equals(MESSAGE_PREFIX)) {
      if (options.trackPosition) last = pushPosition(data, benchAt) ?? last;
      return options.onDelivery(data, benchAt);
    }
    let reply: Reply;
    try {
      reply = JSON.parse(data.toString('utf8')) as Reply;
    } catch (error) {
      options.onProblem('UNPARSABLE_FRAME');
      process.emitWarning(`Meridian sent a frame that is not JSON: ${(error as Error).message}`);
      return;
    }
    if (reply.op === 'published') return options.onAck();
    if (reply.op === 'error') {
      const code = reply.code ?? 'ERROR';
      const failure = Object.assign(new BenchError(BenchErrorCode.CLIENT_FAILED, `${code}: ${reply.message ?? ''}`), { retryAfterMs: reply.retryAfterMs });
      if (reply.id === undefined || !pending.reject(reply.id, failure)) {
        options.onProblem(code);
      }
      return;
    }
    if (reply.op === 'subscribed') {
      // Recovered messages count as deliveries, in order, before the reply resolves.
      for (const message of reply.messages ?? []) {
        const frame = Buffer.from(JSON.stringify(message.data));
        options.onDelivery(frame, frame.indexOf(BENCH_FIELD));
      }
      const newest = reply.messages?.at(-1);
      if (options.trackPosition && reply.epoch !== undefined) last = newest ?? { epoch: reply.epoch, offset: reply.offset ?? 0 };
    }
    if (reply.id !== undefined) pending.resolve(reply.id, reply);
  };
  const socket = await openSocket(`${options.baseUrl}/v1/ws`, options.maxPayloadBytes, options.replyTimeoutMs, onMessage, options.onProblem, options.localAddress);
  socket.on('close', (code: number) => {
    pending.rejectAll(new BenchError(BenchErrorCode.CLIENT_FAILED, `socket closed with ${code}`));
    if (closing) return;
    options.onProblem(`CLOSE_${code}`);
    options.onClosed?.(code);
  });
  socket.on('error', (error: Error) => options.onProblem(`SOCKET_${(error as NodeJS.ErrnoException).code ?? 'ERROR'}`));

  const command = <T>(body: Record<string, unknown>, what: string): Promise<T> => {
    const id = nextId++;
    const reply = pending.wait<T>(id, what, options.replyTimeoutMs);
    socket.send(JSON.stringify({ id, ...body }));
    return reply;
  };

  await command({ op: 'connect', token }, 'connect');
  return {
    async subscribe(room) {
      await command({ op: 'subscribe', room }, `subscribe ${room}`);
    },
    async resubscribe(room, from) {
      const reply = await command<Reply>({ op: 'subscribe', room, recover: { epoch: from.epoch, offset: from.offset } }, `subscribe ${room} with recover`);
      return reply.recovered === true;
    },
    position: () => last,
    publish(room, payloadJson) {
      socket.send(`{"id":${nextId++},"op":"publish","room":${JSON.stringify(room)},"data":${payloadJson}}`);
    },
    bufferedAmount: () => socket.bufferedAmount,
    close() {
      closing = true;
      return closeSocket(socket);
    },
    terminate() {
      closing = true;
      socket.terminate();
    },
  };
};
