/**
 * Reading a watch response: newline-delimited JSON events `{type, object}` (ADDED, MODIFIED,
 * DELETED, BOOKMARK, ERROR). A line is handed on as soon as it is complete; a partial line
 * waits for the rest, up to maxLineBytes. A line that is not JSON ends the watch with an error
 * (the stream is not one the client understands), rather than being skipped.
 *
 * The server may be hostile (a region's kubeconfig comes from a tenant's Secret): a line longer
 * than maxLineBytes ends the watch with KUBE_WATCH_LINE_TOO_LARGE, each chunk is scanned once for
 * newlines (never the whole pending line again), and nothing thrown while handling an event —
 * by the parser or by onEvent — escapes the stream's listeners: it fails the watch instead.
 */
import type { IncomingMessage } from 'node:http';
import { KubeClientError } from './errors.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type WatchHandler = (type: WatchEventType, object: unknown) => void;

export class WatchStreamError extends Error {
  readonly code = 'KUBE_WATCH_STREAM_INVALID';
}

const NEWLINE = 0x0a;

/**
 * Resolves when the server ends the stream; rejects when the connection breaks, a line is not
 * JSON or is longer than maxLineBytes, or onEvent throws.
 */
export function readWatchStream(response: IncomingMessage, onEvent: WatchHandler, maxLineBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // The pending (incomplete) line, as the chunks it arrived in. A newline byte never occurs
    // inside a multi-byte UTF-8 sequence, so lines are split on bytes and decoded whole.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      response.destroy();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const line = (bytes: Buffer) => {
      const text = bytes.toString('utf8');
      if (!text.trim()) return;
      let event: { type?: WatchEventType; object?: unknown };
      try {
        event = JSON.parse(text) as typeof event;
      } catch {
        return fail(new WatchStreamError(`watch sent a line that is not JSON (${bytes.length} bytes)`));
      }
      if (event?.type) onEvent(event.type, event.object);
    };
    const tooLong = () => fail(new KubeClientError('KUBE_WATCH_LINE_TOO_LARGE', `a watch event passed ${maxLineBytes} bytes without a newline`));
    response.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        let start = 0;
        let newline = chunk.indexOf(NEWLINE, start);
        while (newline !== -1 && !failed) {
          const piece = chunk.subarray(start, newline);
          if (pendingBytes + piece.length > maxLineBytes) return tooLong();
          line(pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]));
          pending = [];
          pendingBytes = 0;
          start = newline + 1;
          newline = chunk.indexOf(NEWLINE, start);
        }
        if (failed || start >= chunk.length) return;
        const rest = chunk.subarray(start);
        if (pendingBytes + rest.length > maxLineBytes) return tooLong();
        pending.push(rest);
        pendingBytes += rest.length;
      } catch (error) {
        fail(error);
      }
    });
    response.on('end', () => {
      if (failed) return;
      try {
        if (pendingBytes > 0) line(Buffer.concat(pending));
      } catch (error) {
        return fail(error);
      }
      if (!failed) resolve();
    });
    response.on('error', fail);
    response.on('aborted', () => fail(Object.assign(new Error('watch connection aborted'), { code: 'ECONNRESET' })));
  });
}
