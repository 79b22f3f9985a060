/**
 * Socket.IO 4 spoken directly over `ws` (Engine.IO protocol 4, websocket transport only), so
 * the generator's cost per frame matches the other systems'. Packets used: `0` open, `40`
 * namespace connect, `2`/`3` ping/pong, `42[...]` event, `42<id>[...]` event with ack, `43<id>[...]` ack.
 */
import type { BenchSocket } from './bench-socket.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { BENCH_FIELD, type BenchConnection, type ClientProtocol, type ConnectOptions } from './types.ts';
import { PendingReplies } from './pending.ts';
import { closeSocket, openSocket } from './socket.ts';

const CHAR_OPEN = 0x30; // '0'
const CHAR_CLOSE = 0x31; // '1'
const CHAR_PING = 0x32; // '2'
const CHAR_MESSAGE = 0x34; // '4'
const NAMESPACE_CONNECTED = '40';
const NAMESPACE_ERROR = '44';
const ACK_PREFIX = '43';

export const connectSocketIo: ClientProtocol = async (options: ConnectOptions): Promise<BenchConnection> => {
  const pending = new PendingReplies();
  let nextId = 1;
  let closing = false;
  const connected = pending.wait<void>('namespace', 'namespace connect', options.replyTimeoutMs);

  const onMessage = (data: Buffer, ws: BenchSocket): void => {
    const kind = data[0];
    if (kind === CHAR_MESSAGE) {
      const benchAt = data.indexOf(BENCH_FIELD);
      if (benchAt !== -1) return options.onDelivery(data, benchAt);
      const text = data.toString('utf8');
      if (text.startsWith(NAMESPACE_CONNECTED)) pending.resolve('namespace', undefined);
      else if (text.startsWith(NAMESPACE_ERROR)) pending.reject('namespace', new BenchError(BenchErrorCode.CLIENT_FAILED, `namespace refused: ${text.slice(2, 200)}`));
      else if (text.startsWith(ACK_PREFIX)) pending.resolve(Number.parseInt(text.slice(2), 10), text);
      else options.onProblem('UNEXPECTED_PACKET');
    } else if (kind === CHAR_PING) {
      ws.send('3');
    } else if (kind === CHAR_OPEN) {
      ws.send('40');
    } else if (kind === CHAR_CLOSE) {
      options.onProblem('ENGINE_CLOSE');
    }
  };
  const socket = await openSocket(`${options.baseUrl}/socket.io/?EIO=4&transport=websocket`, options.maxPayloadBytes, options.replyTimeoutMs, onMessage, options.onProblem, options.localAddress);
  socket.on('close', (code: number) => {
    pending.rejectAll(new BenchError(BenchErrorCode.CLIENT_FAILED, `socket closed with ${code}`));
    if (closing) return;
    options.onProblem(`CLOSE_${code}`);
    options.onClosed?.(code);
  });
  socket.on('error', (error: Error) => options.onProblem(`SOCKET_${(error as NodeJS.ErrnoException).code ?? 'ERROR'}`));

  await connected;
  return {
    async subscribe(room) {
      const id = nextId++;
      const ack = pending.wait<string>(id, `subscribe ${room}`, options.replyTimeoutMs);
      socket.send(`42${id}["subscribe",${JSON.stringify(room)}]`);
      await ack;
    },
    publish(room, payloadJson) {
      socket.send(`42["publish",${JSON.stringify(room)},${payloadJson}]`);
      // Socket.IO has no publish acknowledgement unless one is requested; the bench server sends none.
      options.onAck();
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
