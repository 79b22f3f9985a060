/** The `ws` client socket every protocol adapter uses: no compression, bounded frames. */
import WebSocket from 'ws';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';

/**
 * `onMessage` is attached before the handshake completes: a server that speaks first (Engine.IO's
 * open packet) can have its frame arrive with the upgrade response, before `open` resolves.
 */
export function openSocket(url: string, maxPayloadBytes: number, timeoutMs: number, onMessage: (data: Buffer, socket: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // UTF-8 validation is skipped: the generator only scans frames for two ASCII fields, and
    // validating every delivery would make the generator, not the server, the limit.
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: maxPayloadBytes, handshakeTimeout: timeoutMs, skipUTF8Validation: true });
    socket.on('message', (data: Buffer) => onMessage(data, socket));
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
