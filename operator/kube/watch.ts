/**
 * Reading a watch response: newline-delimited JSON events `{type, object}` (ADDED, MODIFIED,
 * DELETED, BOOKMARK, ERROR). A line is handed on as soon as it is complete; a partial line
 * waits for the rest. A line that is not JSON ends the watch with an error (the stream is not
 * one the client understands), rather than being skipped.
 */
import type { IncomingMessage } from 'node:http';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type WatchHandler = (type: WatchEventType, object: unknown) => void;

export class WatchStreamError extends Error {
  readonly code = 'KUBE_WATCH_STREAM_INVALID';
}

/** Resolves when the server ends the stream; rejects when the connection breaks or a line is not JSON. */
export function readWatchStream(response: IncomingMessage, onEvent: WatchHandler): Promise<void> {
  return new Promise((resolve, reject) => {
    let partial = '';
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      response.destroy();
      reject(error);
    };
    const line = (text: string) => {
      if (!text.trim()) return;
      let event: { type?: WatchEventType; object?: unknown };
      try {
        event = JSON.parse(text) as typeof event;
      } catch {
        return fail(new WatchStreamError(`watch sent a line that is not JSON (${text.length} bytes)`));
      }
      if (event.type) onEvent(event.type, event.object);
    };
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      if (failed) return;
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline !== -1 && !failed) {
        line(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
    });
    response.on('end', () => {
      if (failed) return;
      line(partial);
      if (!failed) resolve();
    });
    response.on('error', fail);
    response.on('aborted', () => fail(Object.assign(new Error('watch connection aborted'), { code: 'ECONNRESET' })));
  });
}
