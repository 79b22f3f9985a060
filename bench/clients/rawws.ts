/**
 * The raw `ws` ceiling's protocol, as small as it gets: `S<room>` subscribes (reply `s<room>`),
 * `P<room>\n<payload>` publishes; the server forwards the payload bytes unchanged.
 */
import { BENCH_FIELD, type BenchConnection, type ClientProtocol, type ConnectOptions } from './types.ts';
import { PendingReplies } from './pending.ts';
import { closeSocket, openSocket } from './socket.ts';

const CHAR_SUBSCRIBED = 0x73; // 's'

export const connectRawWs: ClientProtocol = async (options: ConnectOptions): Promise<BenchConnection> => {
  const pending = new PendingReplies();
  let closing = false;

  const onMessage = (data: Buffer): void => {
    const benchAt = data.indexOf(BENCH_FIELD);
    if (benchAt !== -1) return options.onDelivery(data, benchAt);
    if (data[0] === CHAR_SUBSCRIBED) pending.resolve(data.toString('utf8', 1), undefined);
    else options.onProblem('UNEXPECTED_FRAME');
  };
  const socket = await openSocket(`${options.baseUrl}/`, options.maxPayloadBytes, options.replyTimeoutMs, onMessage, options.onProblem, options.localAddress);
  socket.on('close', (code: number) => {
    if (closing) return;
    options.onProblem(`CLOSE_${code}`);
    options.onClosed?.(code);
  });
  socket.on('error', (error: Error) => options.onProblem(`SOCKET_${(error as NodeJS.ErrnoException).code ?? 'ERROR'}`));

  return {
    async subscribe(room) {
      const reply = pending.wait<void>(room, `subscribe ${room}`, options.replyTimeoutMs);
      socket.send(`S${room}`);
      await reply;
    },
    publish(room, payloadJson) {
      socket.send(`P${room}\n${payloadJson}`);
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
