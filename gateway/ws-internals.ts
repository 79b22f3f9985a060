/**
 * The one place the gateway reaches past ws's public API.
 *
 * ws keeps each connection's network socket in the private field `_socket`. Writing pre-built
 * frames (ws-frame.ts) straight to it skips `ws.send`'s per-message framing and lets several
 * frames for one socket leave in one write (cork … uncork). That relies on four things ws does
 * not promise, all true of the versions in `checkedWsVersions`:
 *
 * 1. a server-side WebSocket holds the socket it was handed in `_socket`;
 * 2. that socket has `write`, `cork` and `uncork`;
 * 3. bytes written there reach the peer as written (ws adds nothing of its own);
 * 4. `ws.bufferedAmount` counts them, so the outbound cap (connection.ts `admit`) still holds.
 *
 * A raw write bypasses ws's send queue, which ws only uses while compressing: sockets that
 * negotiated permessage-deflate are never written raw.
 *
 * `checkRawWrites()` checks all four at start-up on a real handshake over an in-memory socket.
 * When one fails the gateway logs a warning and writes everything through `ws.send` (same
 * behaviour, slower fan-out); test/gateway-ws-internals.test.ts pins the version range.
 */
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { frameText } from './ws-frame.ts';

/** The ws versions whose internals were read and found to match the list above. */
export const checkedWsVersions = Object.freeze({ atLeast: '8.23.0', below: '9.0.0' });

/** What the gateway uses of ws's private socket. */
export interface RawSocket {
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

function isRawSocket(value: unknown): value is RawSocket {
  const socket = value as Partial<RawSocket> | null | undefined;
  return typeof socket?.write === 'function' && typeof socket.cork === 'function' && typeof socket.uncork === 'function';
}

/**
 * The socket to write `ws`'s frames to, or undefined when they must go through `ws.send`
 * (permessage-deflate negotiated, or a socket that is not what this file expects).
 */
export function rawSocketOf(ws: WebSocket): RawSocket | undefined {
  if (ws.extensions !== '') return undefined;
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  return isRawSocket(socket) ? socket : undefined;
}

/** Opens a server-side WebSocket over `socket`; the default runs ws's own handshake. */
export type OpenProbeSocket = (socket: Duplex) => WebSocket | undefined;

function handshake(socket: Duplex): WebSocket | undefined {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const request = {
    method: 'GET',
    headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'bWVyaWRpYW4tcHJvYmUtMQ==', 'sec-websocket-version': '13' },
  } as unknown as IncomingMessage;
  let opened: WebSocket | undefined;
  // Without verifyClient ws completes the handshake synchronously.
  wss.handleUpgrade(request, socket, Buffer.alloc(0), (ws) => (opened = ws));
  return opened;
}

/**
 * Checks every assumption above on a real handshake over an in-memory socket; returns what
 * does not hold (empty when raw writes are safe). Never throws.
 */
export function checkRawWrites(open: OpenProbeSocket = handshake): string[] {
  const received: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk);
      done();
    },
  });
  socket.on('error', () => {}); // the probe's own teardown; nothing is listening on the other side
  let ws: WebSocket | undefined;
  try {
    ws = open(socket);
    if (!ws) return ['the handshake did not complete'];
    const problems: string[] = [];
    const held = (ws as unknown as { _socket?: unknown })._socket;
    if (held === undefined) problems.push('_socket is missing');
    else if (held !== socket) problems.push('_socket is not the socket the connection was handed');
    if (held !== undefined && !isRawSocket(held)) problems.push('_socket lacks write, cork or uncork');
    const raw = rawSocketOf(ws);
    if (problems.length > 0 || !raw) return problems.length > 0 ? problems : ['the socket is not writable raw'];
    const probe = frameText(Buffer.from('{"op":"probe"}'));
    const before = ws.bufferedAmount;
    received.length = 0;
    raw.cork();
    raw.write(probe.frame);
    if (ws.bufferedAmount - before !== probe.bytes) problems.push('ws.bufferedAmount does not count bytes written to _socket');
    raw.uncork();
    if (!Buffer.concat(received).equals(probe.frame)) problems.push('bytes written to _socket do not reach the peer unchanged');
    return problems;
  } catch (error) {
    return [`the check failed: ${(error as Error).message}`];
  } finally {
    if (ws && typeof ws.terminate === 'function') ws.terminate();
    socket.destroy();
  }
}
