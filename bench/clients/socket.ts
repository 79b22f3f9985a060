/**
 * The client socket every protocol adapter uses: `ws` opens it (handshake, no compression) and
 * sends on it; once it is open, incoming frames are read by FrameReader straight from the TCP
 * socket instead of by `ws`'s receiver. On 2 cores the load generator competes with the server for
 * CPU, and `ws`'s receive path (a Writable stream, a receiver queue, two events per message) cost
 * the generator more per delivery than some servers spent sending it. Every system is read the
 * same way; only the envelope inside the frames differs.
 */
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { FrameReader } from './frame-reader.ts';

/** `ws` keeps its TCP socket in `_socket` (not in its typings). */
interface WebSocketInternals {
  _socket: Duplex;
}

type DataListener = (this: Duplex, chunk: Buffer) => void;

/**
 * Called in `ws`'s 'open' event, which `ws` emits right after attaching its own 'data' listener
 * and before any frame bytes flow (bytes that came with the upgrade response were put back into
 * the socket), so the reader sees every frame from the first on.
 */
function readFramesDirectly(socket: WebSocket, maxPayloadBytes: number, onMessage: (data: Buffer, socket: WebSocket) => void, onProblem: (code: string) => void): void {
  const tcp = (socket as unknown as WebSocketInternals)._socket;
  const wsListeners = tcp.listeners('data') as DataListener[];
  const reader = new FrameReader(
    {
      message: (data) => onMessage(data, socket),
      ping: (data) => socket.pong(data),
      closed: (rest) => {
        // Hand the close frame and anything after it back to `ws`: it answers and closes.
        tcp.off('data', onData);
        for (const listener of wsListeners) {
          tcp.on('data', listener);
          listener.call(tcp, rest);
        }
      },
      failed: (code, detail) => {
        onProblem(code);
        process.emitWarning(`bench client closed a connection: ${detail}`);
        socket.terminate();
      },
    },
    maxPayloadBytes,
  );
  const onData = (chunk: Buffer) => reader.push(chunk);
  for (const listener of wsListeners) tcp.off('data', listener);
  tcp.on('data', onData);
}

/**
 * `onMessage` is attached before the handshake completes: a server that speaks first (Engine.IO's
 * open packet) can have its frame arrive with the upgrade response, before `open` resolves.
 */
export function openSocket(
  url: string,
  maxPayloadBytes: number,
  timeoutMs: number,
  onMessage: (data: Buffer, socket: WebSocket) => void,
  onProblem: (code: string) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // No UTF-8 validation: the generator only scans frames for two ASCII fields.
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: maxPayloadBytes, handshakeTimeout: timeoutMs, skipUTF8Validation: true });
    // Registered before `ok`, so the reader is in place before the caller sends anything.
    socket.once('open', () => readFramesDirectly(socket, maxPayloadBytes, onMessage, onProblem));
    const fail = (error: Error) => {
      socket.off('open', ok);
      reject(new BenchError(BenchErrorCode.CLIENT_FAILED, `cannot open ${url}: ${error.message}`, { cause: error }));
    };
    const ok = () => {
      socket.off('error', fail);
      resolve(socket);
    };
    socket.once('open', ok);
    socket.once('error', fail);
  });
}

/** Closes the socket and waits for the server's close frame (so the server has processed it). */
export function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.close(1000);
  });
}
