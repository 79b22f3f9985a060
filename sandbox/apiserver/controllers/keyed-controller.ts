/**
 * What the emulator's workload controllers share: the same dependencies, and one de-duplicating
 * work queue of `namespace/name` keys that store events feed and `reconcile` drains (as the
 * controllers of kube-controller-manager do). A subclass subscribes to the buckets it watches
 * and implements `reconcile`; it never acts inside the write that enqueued a key.
 */
import type { Registry } from '../registry.ts';
import type { Resources } from '../resources.ts';
import type { ChangeEvent, Store } from '../store.ts';
import { WorkQueue } from './work-queue.ts';

export interface ControllerDeps {
  registry: Registry;
  store: Store;
  resources: Resources;
  now: () => Date;
  onError: (error: unknown) => void;
}

export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export abstract class KeyedController {
  protected readonly registry: Registry;
  protected readonly store: Store;
  protected readonly resources: Resources;
  protected readonly now: () => Date;
  protected readonly queue: WorkQueue;
  protected readonly retryDelayMs: number;

  constructor(deps: ControllerDeps, retryDelayMs: number) {
    this.registry = deps.registry;
    this.store = deps.store;
    this.resources = deps.resources;
    this.now = deps.now;
    this.retryDelayMs = retryDelayMs;
    this.queue = new WorkQueue((key) => this.reconcile(key), deps.onError, retryDelayMs);
  }

  /** Every change of an object in `bucket` enqueues that object's own key. */
  protected watchOwn(bucket: string): void {
    this.store.subscribe({ bucket, deliver: (e: ChangeEvent) => this.queue.add(keyOf(e.object.metadata.namespace, e.object.metadata.name)) });
  }

  stop(): void {
    this.queue.stop();
  }

  protected abstract reconcile(key: string): void;
}
