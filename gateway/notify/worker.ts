/**
 * The pod's consumer of the region's notification queue. One loop: move due scheduled jobs
 * into the queue, now and then claim entries a dead pod left pending longer than
 * notify.claimIdleMs, read new entries (blocking up to notify.pollMs), and run at most
 * notify.concurrency jobs at once. A failing store (Redis away) is logged once per outage and
 * retried after notify.retryInitialMs; nothing is acked that was not done.
 */
import type { Delivery } from './delivery.ts';
import type { NotifyMetrics } from './metrics.ts';
import type { NotifySettings } from './settings.ts';
import type { NotifyStore, QueueEntry } from './types.ts';

export interface WorkerDeps {
  settings: NotifySettings;
  store: NotifyStore;
  delivery: Delivery;
  metrics: NotifyMetrics;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now: () => number;
}

/** Scheduled jobs moved into the queue per loop turn. */
const promoteBatch = 256;

export class NotifyWorker {
  readonly #deps: WorkerDeps;
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** Entries this pod is running: a claim of its own slow entry must not run it twice. */
  readonly #runningEntries = new Set<string>();
  #lastClaim = 0;
  #failing = false;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops reading and waits for the jobs in progress (bounded by `deadlineMs`); unfinished entries stay pending for another pod. */
  async stop(deadlineMs: number): Promise<void> {
    this.#running = false;
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.#inFlight), new Promise((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    const { settings, store, now } = this.#deps;
    while (this.#running) {
      try {
        await store.promoteDue(now(), promoteBatch);
        if (now() - this.#lastClaim >= settings.claimIdleMs / 2) {
          this.#lastClaim = now();
          const claimed = await store.claimStale(settings.consumer, settings.claimIdleMs, settings.concurrency);
          this.#deps.metrics.claimed.inc(claimed.filter((entry) => !this.#runningEntries.has(entry.entryId)).length);
          this.#dispatch(claimed);
        }
        const free = settings.concurrency - this.#inFlight.size;
        if (free <= 0) {
          await Promise.race(this.#inFlight);
          continue;
        }
        this.#dispatch(await store.read(settings.consumer, free, settings.pollMs));
        if (this.#failing) this.#deps.logger.info({}, 'notification queue reachable again');
        this.#failing = false;
      } catch (error) {
        this.#deps.metrics.workerErrors.inc();
        if (!this.#failing) this.#deps.logger.warn({ err: (error as Error).message }, 'notification queue unreachable; retrying');
        this.#failing = true;
        await new Promise((resolve) => setTimeout(resolve, settings.retryInitialMs));
      }
    }
  }

  #dispatch(entries: QueueEntry[]): void {
    for (const entry of entries) {
      if (this.#runningEntries.has(entry.entryId)) continue;
      this.#runningEntries.add(entry.entryId);
      const task = this.#deps.delivery
        .run(entry)
        .catch((error: unknown) => {
          // The entry stays pending: another pod (or this one) claims it after claimIdleMs.
          this.#deps.metrics.workerErrors.inc();
          this.#deps.logger.warn({ err: (error as Error).message, kind: entry.job.kind }, 'notification job failed; it stays pending');
        })
        .finally(() => {
          this.#inFlight.delete(task);
          this.#runningEntries.delete(entry.entryId);
        });
      this.#inFlight.add(task);
    }
  }
}
