/**
 * An informer: lists a resource, then watches it from the list's resourceVersion, keeping a
 * read-only cache and calling handlers on every change. It owns its loop, so that no error
 * stops it and a quiet watch is told from a dead one:
 *
 * - a watch that ends (server timeout, dropped or refused connection) is resumed from the last resourceVersion seen, so no event is lost and nothing is
 *   re-listed; repeated ends without events back off;
 * - 410 Gone (as an HTTP answer or an ERROR event) means the resourceVersion is too old: list
 *   again and report the difference as add/update/delete;
 * - the watchdog lists again when no event has arrived for silenceLimitMs, whatever the
 *   connection claims (a half-open watch looks exactly like a quiet one);
 * - a failed list, or a watch the server refuses with an HTTP error, is retried by listing
 *   again with exponential backoff (backoffInitialMs → backoffMaxMs),
 *   reset by the next successful list or event. The informer never gives up until stop().
 *
 * Handlers receive the cached objects: they must not modify them (copy first).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { untilAborted, type KubeClient } from './kube/client.ts';
import { collectionPath, type ResourceRef } from './kube/resources.ts';
import type { Logger } from 'pino';
import { sleep, systemClock, type Clock } from './clock.ts';
import { OperatorError, errorSummary, statusCodeOf } from './errors.ts';

export { collectionPath, type ResourceRef };

export type RelistReason = 'initial' | 'expired' | 'silent' | 'error';

export interface InformerOptions {
  /** For logs and metrics, e.g. "hub/realtimeclusters" or "us-east1/deployments". */
  name: string;
  client: KubeClient;
  resource: ResourceRef;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  labelSelector?: string;
  /** Items per list page. */
  pageSize?: number;
  /** Asks the server to end each watch after this long; the informer then resumes it. */
  watchTimeoutSeconds?: number;
  /** The watchdog lists again after this long without any event. */
  silenceLimitMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logger: Logger;
  clock?: Clock;
  /** Called on every list, with why it happened. */
  onList?: (reason: RelistReason) => void;
  /** Called on every failed list or watch. */
  onError?: (error: unknown) => void;
  /** One list page may take this long before it is abandoned (and listed again after backoff). */
  listTimeoutMs?: number;
  /**
   * What the cache keeps of each object (applied before handlers see it). Default: the object
   * without metadata.managedFields, which is often its largest part and of no use to readers.
   */
  transform?: (object: KubernetesObject) => KubernetesObject;
}

/** Drops metadata.managedFields (a shallow copy: the received object is not modified). */
export function withoutManagedFields(object: KubernetesObject): KubernetesObject {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/** Keeps only apiVersion, kind and metadata (without managedFields): enough to map an object to its owner. */
export function metadataOnly(object: KubernetesObject): KubernetesObject {
  const { managedFields: _dropped, ...metadata } = object.metadata ?? {};
  return { apiVersion: object.apiVersion, kind: object.kind, metadata };
}

export const INFORMER_DEFAULTS = Object.freeze({ pageSize: 500, watchTimeoutSeconds: 300, silenceLimitMs: 300_000, backoffInitialMs: 250, backoffMaxMs: 30_000, listTimeoutMs: 60_000 });

/** An event's or list item's object is usable only when it is an object with metadata (a hostile or broken server may send `null`). */
function isObjectWithMetadata(value: unknown): value is KubernetesObject {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const metadata = (value as { metadata?: unknown }).metadata;
  return !!metadata && typeof metadata === 'object' && !Array.isArray(metadata);
}

export interface InformerHandlers<T extends KubernetesObject> {
  add?(object: T): void;
  update?(previous: T, object: T): void;
  delete?(object: T): void;
}

type WatchEnd = { kind: 'closed'; events: number } | { kind: 'expired' } | { kind: 'silent' } | { kind: 'failed'; error: unknown } | { kind: 'stopped' };

export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : (name ?? '');
}

export class Informer<T extends KubernetesObject = KubernetesObject> {
  readonly name: string;
  readonly #options: InformerOptions & typeof INFORMER_DEFAULTS;
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #store = new Map<string, T>();
  readonly #syncWaiters: (() => void)[] = [];
  readonly #transform: (object: T) => T;
  #resourceVersion = '';
  #lastEventAt = 0;
  #synced = false;
  #stopper = new AbortController();
  #running: Promise<void> | undefined;
  #malformed = 0;

  constructor(options: InformerOptions) {
    this.#options = { ...INFORMER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as InformerOptions & typeof INFORMER_DEFAULTS;
    this.name = options.name;
    this.#client = options.client;
    this.#log = options.logger.child({ informer: options.name });
    this.#clock = options.clock ?? systemClock;
    this.#transform = (options.transform ?? withoutManagedFields) as unknown as (object: T) => T;
  }

  on(handlers: InformerHandlers<T>): this {
    this.#handlers.push(handlers);
    return this;
  }

  /** True once the first list has filled the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Watch events and list items ignored because their object was not an object with metadata. */
  get malformedObjects(): number {
    return this.#malformed;
  }

  #ignoreMalformed(where: string, type: string): void {
    this.#malformed += 1;
    this.#log.warn({ where, type, malformed: this.#malformed }, 'ignored an object without metadata');
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** The cached objects (read-only). */
  list(): T[] {
    return [...this.#store.values()];
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /** Resolves once the cache has synced, or the informer was stopped (check `synced`): a stop never leaves a waiter hanging. */
  waitForSync(): Promise<void> {
    return this.#synced || this.#stopper.signal.aborted ? Promise.resolve() : new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    if (this.#running) return;
    this.#stopper = new AbortController();
    this.#running = this.#run(this.#stopper.signal);
  }

  async stop(): Promise<void> {
    this.#stopper.abort();
    for (const resolve of this.#syncWaiters.splice(0)) resolve();
    await this.#running;
    this.#running = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let reason: RelistReason = 'initial';
    while (!signal.aborted) {
      try {
        await this.#relist(reason, signal);
        failures = 0;
        reason = await this.#watchUntilRelist(signal, () => (failures = 0));
        if (reason !== 'error') continue;
      } catch (error) {
        if (signal.aborted) break;
        this.#options.onError?.(error);
        this.#log.warn({ err: errorSummary(error) }, 'list failed');
        reason = 'error';
      }
      failures += 1;
      await sleep(this.#clock, this.#backoff(failures), signal);
    }
  }

  #backoff(failures: number): number {
    return Math.min(this.#options.backoffMaxMs, this.#options.backoffInitialMs * 2 ** Math.min(failures - 1, 30));
  }

  /** Watches, resuming after every clean end, until a re-list is needed or the informer stops. */
  async #watchUntilRelist(signal: AbortSignal, onProgress: () => void): Promise<RelistReason> {
    let quietEnds = 0;
    while (!signal.aborted) {
      const end = await this.#watchOnce(signal);
      switch (end.kind) {
        case 'stopped':
          return 'initial';
        case 'expired':
          this.#log.info('watch expired (410); listing again');
          return 'expired';
        case 'silent':
          this.#log.warn({ silenceLimitMs: this.#options.silenceLimitMs }, 'no watch event within the silence limit; listing again');
          return 'silent';
        case 'failed':
          this.#options.onError?.(end.error);
          this.#log.warn({ err: errorSummary(end.error) }, 'watch failed');
          return 'error';
        case 'closed':
          // A watch the server ends at once, again and again, must not become a hot loop.
          if (end.events > 0) {
            quietEnds = 0;
            onProgress();
          } else if (++quietEnds > 1) {
            await sleep(this.#clock, this.#backoff(quietEnds - 1), signal);
          }
      }
    }
    return 'initial';
  }

  #watchOnce(signal: AbortSignal): Promise<WatchEnd> {
    return new Promise((resolve) => {
      let events = 0;
      let settled = false;
      const controller = new AbortController();
      const finish = (end: WatchEnd) => {
        if (settled) return;
        settled = true;
        watchdog.cancel();
        signal.removeEventListener('abort', onStop);
        controller.abort();
        resolve(end);
      };
      const onStop = () => finish({ kind: 'stopped' });
      // The silence limit counts from the last event or list, across resumed watches.
      const armWatchdog = () => this.#clock.after(Math.max(0, this.#options.silenceLimitMs - (this.#clock.now() - this.#lastEventAt)), () => finish({ kind: 'silent' }));
      let watchdog = armWatchdog();
      signal.addEventListener('abort', onStop, { once: true });
      const query = {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.#options.watchTimeoutSeconds,
        labelSelector: this.#options.labelSelector,
      };
      const onEvent = (type: string, object: unknown) => {
        if (settled) return;
        events += 1;
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          if (status?.code === 410) return finish({ kind: 'expired' });
          return finish({ kind: 'failed', error: new OperatorError('WATCH_FAILED', `watch error event: ${status?.code ?? 'unknown'} ${status?.message ?? ''}`.trim()) });
        }
        this.#lastEventAt = this.#clock.now();
        watchdog.cancel();
        watchdog = armWatchdog();
        if (!isObjectWithMetadata(object)) return this.#ignoreMalformed('watch', type);
        this.#apply(type, object as T);
      };
      const onFailed = (error: unknown) => {
        const status = statusCodeOf(error);
        if (status === 410) return finish({ kind: 'expired' });
        // The server refused the watch (403, 429, 500…): list again after backoff.
        if (status !== undefined) return finish({ kind: 'failed', error });
        // No HTTP answer: the connection broke or was refused. Resume from the last resourceVersion (with backoff if it keeps
        // happening): the server replays what was missed, or answers 410.
        this.#log.debug({ err: errorSummary(error) }, 'watch connection ended; resuming');
        finish({ kind: 'closed', events });
      };
      this.#client.watch(collectionPath(this.#options.resource, this.#options.namespace), query, onEvent, controller.signal).then(() => finish({ kind: 'closed', events }), onFailed);
    });
  }

  #apply(type: string, received: T): void {
    const resourceVersion = received.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (resourceVersion) this.#resourceVersion = resourceVersion;
      return;
    }
    const object = this.#transform(received);
    const key = objectKey(object);
    const previous = this.#store.get(key);
    if (resourceVersion) this.#resourceVersion = resourceVersion;
    if (type === 'DELETED') {
      this.#store.delete(key);
      this.#emit('delete', previous ?? object);
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    if (previous?.metadata?.resourceVersion === resourceVersion && previous) return; // replayed after a resume
    this.#store.set(key, object);
    if (previous) this.#emit('update', object, previous);
    else this.#emit('add', object);
  }

  async #relist(reason: RelistReason, signal: AbortSignal): Promise<void> {
    this.#options.onList?.(reason);
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await untilAborted(
        this.#client.request<{ items: T[]; metadata?: { resourceVersion?: string; continue?: string } }>('GET', collectionPath(this.#options.resource, this.#options.namespace), {
          query: { labelSelector: this.#options.labelSelector, limit: this.#options.pageSize, continue: continueToken },
          signal,
          timeoutMs: this.#options.listTimeoutMs,
        }),
        signal,
        informerStopped,
      );
      if (!Array.isArray(page?.items)) throw new OperatorError('LIST_INVALID', 'the list answer has no items array');
      for (const item of page.items) {
        if (isObjectWithMetadata(item)) fresh.set(objectKey(item), this.#transform(item));
        else this.#ignoreMalformed('list', 'item');
      }
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (continueToken);
    const previous = new Map(this.#store);
    this.#store.clear();
    for (const [key, object] of fresh) this.#store.set(key, object);
    this.#resourceVersion = resourceVersion;
    this.#lastEventAt = this.#clock.now();
    for (const [key, object] of fresh) {
      const old = previous.get(key);
      if (!old) this.#emit('add', object);
      else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.#emit('update', object, old);
    }
    for (const [key, old] of previous) if (!fresh.has(key)) this.#emit('delete', old);
    if (!this.#synced) {
      this.#synced = true;
      for (const resolve of this.#syncWaiters.splice(0)) resolve();
    }
    this.#log.debug({ reason, items: fresh.size, resourceVersion }, 'listed');
  }

  #emit(event: 'add' | 'update' | 'delete', object: T, previous?: T): void {
    for (const handlers of this.#handlers) {
      try {
        if (event === 'add') handlers.add?.(object);
        else if (event === 'update') handlers.update?.(previous as T, object);
        else handlers.delete?.(object);
      } catch (error) {
        // A handler's bug must not stop the informer; it is logged with the object's key.
        this.#log.error({ err: errorSummary(error), event, key: objectKey(object) }, 'informer handler threw');
      }
    }
  }
}

/** Why a list in flight is abandoned when stop() aborts it: stop() never waits for a server that does not answer. */
function informerStopped(): OperatorError {
  return new OperatorError('INFORMER_STOPPED', 'the informer was stopped');
}
