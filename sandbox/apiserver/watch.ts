/**
 * Watch streams: newline-delimited JSON events over a chunked HTTP response. A watch starts
 * from a resourceVersion (replaying the kept event log, or 410 Expired when it is too old) or
 * from "now" with synthetic ADDED events for what exists. Label/field selector transitions turn
 * MODIFIED into ADDED or DELETED, as the watch cache does.
 */
import type { ServerResponse } from 'node:http';
import { statusObject } from './errors.ts';
import type { KubeObject, ResourceType } from './registry.ts';
import { apiVersionOf, bucketOf } from './registry.ts';
import type { Predicate } from './selectors.ts';
import type { ChangeEvent, Store } from './store.ts';
import { MAX_TIMER_MS } from './query.ts';

export interface WatchRequest {
  type: ResourceType;
  namespace?: string;
  matches: Predicate;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowBookmarks: boolean;
  bookmarkIntervalMs: number;
  /** Close a watcher whose unsent bytes pass this bound (a stuck client must not grow memory). */
  maxBufferedBytes: number;
  present: (obj: KubeObject) => KubeObject;
  /** When set (the client asked for Table), each event's object is a one-row Table. */
  asTable?: (obj: KubeObject) => KubeObject;
}

export interface ActiveWatch {
  /** What is watched, as kube-apiserver names it: `deployments.apps`, `configmaps`. */
  readonly resource: string;
  /** Ends the stream as a network failure would (destroys the socket). */
  drop(): void;
  /** A half-open connection: the stream stays open but nothing more is sent on it, ever. */
  stall(): void;
}

/** Stored objects are frozen, so one serialization serves every watcher of the same event. */
const serialized = new WeakMap<object, string>();

function toJson(object: KubeObject): string {
  let json = serialized.get(object);
  if (json === undefined) {
    json = JSON.stringify(object);
    if (Object.isFrozen(object)) serialized.set(object, json);
  }
  return json;
}

export function serveWatch(store: Store, res: ServerResponse, request: WatchRequest, active: Set<ActiveWatch>): void {
  const { type, namespace, matches } = request;
  const inScope = (o: KubeObject) => (namespace === undefined || o.metadata.namespace === namespace) && matches(o);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();

  let closed = false;
  let stalled = false;
  // Declared before the first send: the initial list alone may pass the buffer cap and finish().
  let unsubscribe = (): void => undefined;
  const timers: NodeJS.Timeout[] = [];
  const handle: ActiveWatch = {
    resource: type.group ? `${type.plural}.${type.group}` : type.plural,
    drop: () => finish(true),
    stall: () => {
      stalled = true;
    },
  };
  const send = (eventType: string, object: KubeObject) => {
    if (closed || stalled) return;
    const shown = request.asTable && eventType !== 'ERROR' && eventType !== 'BOOKMARK' ? request.asTable(object) : object;
    res.write(`{"type":${JSON.stringify(eventType)},"object":${toJson(shown)}}\n`);
    if (res.writableLength > request.maxBufferedBytes) finish(true);
  };
  const bookmark = () => send('BOOKMARK', { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(store.currentRv()) } });

  const deliver = (event: ChangeEvent) => {
    const now = inScope(event.object);
    if (event.type === 'DELETED') {
      if (now) send('DELETED', request.present(event.object));
      return;
    }
    const before = event.type === 'MODIFIED' && event.previous !== undefined && inScope(event.previous);
    if (now && (before || event.type === 'ADDED')) send(event.type, request.present(event.object));
    else if (now) send('ADDED', request.present(event.object));
    else if (before) send('DELETED', request.present(event.object));
  };

  const rv = request.resourceVersion;
  if (rv === undefined || rv === '' || rv === '0') {
    for (const obj of store.list(bucketOf(type), type.namespaced ? namespace : undefined)) if (matches(obj)) send('ADDED', request.present(obj));
  } else {
    const since = store.eventsSince(bucketOf(type), Number(rv));
    if (since === 'expired') {
      send('ERROR', statusObject(410, 'Expired', `too old resource version: ${rv} (${store.oldestWatchableRv()})`));
      res.end();
      return;
    }
    for (const event of since) deliver(event);
  }
  if (closed) return;

  unsubscribe = store.subscribe({ bucket: bucketOf(type), deliver });
  if (request.allowBookmarks) timers.push(setInterval(bookmark, request.bookmarkIntervalMs));
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds !== 0) {
    // A negative timeout ends the watch at once, as in kube-apiserver; one beyond Node's timer
    // range would also fire at once, so it is clamped to the longest timer (about 24.8 days).
    const ms = Math.min(Math.max(request.timeoutSeconds, 0) * 1000, MAX_TIMER_MS);
    timers.push(
      setTimeout(() => {
        if (request.allowBookmarks) bookmark();
        finish(false);
      }, ms),
    );
  }
  active.add(handle);

  function finish(destroy: boolean): void {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
    active.delete(handle);
    if (destroy) res.destroy();
    else res.end();
  }
  res.on('close', () => finish(false));
}
