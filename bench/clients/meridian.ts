/** Meridian's wire protocol v1 (DESIGN §3): connect with a JWT, subscribe, publish with an id. */
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { mintToken } from '../lib/jwt.ts';
import { BENCH_FIELD, type BenchConnection, type ClientProtocol, type ConnectOptions } from './types.ts';
import { PendingReplies } from './pending.ts';
import { closeSocket, openSocket } from './socket.ts';


interface Reply {
  id?: number;
  op?: string;
  code?: string;
  message?: string;
}

export const connectMeridian: ClientProtocol = async (options: ConnectOptions): Promise<BenchConnection> => {
  if (!options.secret) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, 'Meridian clients need the gateway JWT secret');
  const token = await mintToken({ secret: options.secret, user: options.user });
  const pending = new PendingReplies();
  let nextId = 1;
  let closing = false;

  const onMessage = (data: Buffer): void => {
    const benchAt = data.indexOf(BENCH_FIELD);
    if (benchAt !== -1) return options.onDelivery(data, benchAt);
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
      if (reply.id === undefined || !pending.reject(reply.id, new BenchError(BenchErrorCode.CLIENT_FAILED, `${code}: ${reply.message ?? ''}`))) {
        options.onProblem(code);
      }
      return;
    }
    if (reply.id !== undefined) pending.resolve(reply.id, reply);
  };
  const socket = await openSocket(`${options.baseUrl}/v1/ws`, options.maxPayloadBytes, options.replyTimeoutMs, onMessage, options.onProblem);
  socket.on('close', (code: number) => {
    pending.rejectAll(new BenchError(BenchErrorCode.CLIENT_FAILED, `socket closed with ${code}`));
    if (!closing) options.onProblem(`CLOSE_${code}`);
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
    publish(room, payloadJson) {
      socket.send(`{"id":${nextId++},"op":"publish","room":${JSON.stringify(room)},"data":${payloadJson}}`);
    },
    bufferedAmount: () => socket.bufferedAmount,
    close() {
      closing = true;
      return closeSocket(socket);
    },
  };
};
