/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules:
 *
 * - a candidate takes the Lease when it is absent, released (no holder), or when its record has
 *   not changed for leaseDurationSeconds as measured on the candidate's own clock (the time it
 *   *observed* the last change), so clock skew between replicas does not matter;
 * - the leader renews every retryPeriodMs; if it cannot renew within renewDeadlineMs it stops
 *   leading (before the Lease can expire for anyone else, since renewDeadline < leaseDuration);
 * - every write is a replace carrying the read resourceVersion, so two candidates racing for an
 *   expired Lease get one 200 and one 409;
 * - on shutdown the leader releases the Lease (empty holder) so a standby takes over at once.
 */
import type { KubeClient } from './kube/client.ts';
import type { Logger } from 'pino';
import { sleep, systemClock, withTimeout, type Clock } from './clock.ts';
import { OperatorError, errorSummary, statusCodeOf } from './errors.ts';
import { FIELD_MANAGER } from './types.ts';

/** A coordination.k8s.io/v1 Lease as it is on the wire (times are RFC 3339 strings with microseconds). */
interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [field: string]: unknown };
  spec?: LeaseSpec;
}

/** A MicroTime: RFC 3339 with six fractional digits, as the API server writes it. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

export interface LeaderElectionOptions {
  kube: KubeClient;
  namespace: string;
  /** Name of the Lease object. */
  name?: string;
  /** This replica's identity, unique among replicas (e.g. the pod name plus a random suffix). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  clock?: Clock;
  /** Spreads candidates' retries: a retry waits retryPeriodMs × (1 + jitter × random()). */
  jitter?: number;
  random?: () => number;
}

export const LEADER_DEFAULTS = Object.freeze({ name: 'meridian-operator', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, jitter: 0.2 });

export interface LeaderCallbacks {
  /** Called once leadership is acquired; `signal` aborts when leadership ends for any reason. */
  onStartedLeading(signal: AbortSignal): void;
  /**
   * Called when leadership ends: lost (renew deadline passed) or released on shutdown. On
   * shutdown the Lease is released only after the returned promise settles: stop the work here.
   */
  onStoppedLeading(reason: 'lost' | 'released'): void | Promise<void>;
  /** Called when the observed holder changes (including to ourselves). */
  onNewLeader?(identity: string): void;
}

export class LeaderElector {
  readonly identity: string;
  readonly #kube: KubeClient;
  readonly #options: Required<Omit<LeaderElectionOptions, 'kube' | 'logger' | 'clock' | 'random'>>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  #observedRecord = '';
  #observedAt = 0;
  #observedHolder = '';
  #leading = false;

  constructor(options: LeaderElectionOptions) {
    const merged = { ...LEADER_DEFAULTS, ...withoutUndefined(options) };
    if (!(merged.retryPeriodMs > 0 && merged.retryPeriodMs < merged.renewDeadlineMs && merged.renewDeadlineMs < merged.leaseDurationMs)) {
      throw new OperatorError('INVALID_LEADER_TIMING', `need 0 < retryPeriodMs (${merged.retryPeriodMs}) < renewDeadlineMs (${merged.renewDeadlineMs}) < leaseDurationMs (${merged.leaseDurationMs})`);
    }
    if (!merged.identity) throw new OperatorError('INVALID_LEADER_IDENTITY', 'leader election needs a non-empty identity');
    this.identity = merged.identity;
    this.#options = { name: merged.name, namespace: options.namespace, identity: merged.identity, leaseDurationMs: merged.leaseDurationMs, renewDeadlineMs: merged.renewDeadlineMs, retryPeriodMs: merged.retryPeriodMs, jitter: merged.jitter };
    this.#kube = options.kube;
    this.#log = options.logger.child({ lease: `${merged.namespace}/${merged.name}` });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder this replica last saw, '' when none. */
  get observedLeader(): string {
    return this.#observedHolder;
  }

  /**
   * Campaigns until `signal` aborts: waits for the Lease, leads while it can renew, and after
   * losing it campaigns again. Resolves after `signal` aborts and the Lease is released.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#acquire(signal, callbacks))) break;
      const term = new AbortController();
      this.#leading = true;
      this.#log.info('started leading');
      callbacks.onStartedLeading(term.signal);
      const outcome = await this.#renewUntilLost(signal);
      this.#leading = false;
      term.abort();
      this.#log.warn({ outcome }, 'stopped leading');
      // The work of this term ends before the Lease is given up, so that two leaders never overlap.
      await callbacks.onStoppedLeading(outcome);
      if (outcome === 'released') await this.#release();
    }
  }

  async #acquire(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<boolean> {
    while (!signal.aborted) {
      const before = this.#observedHolder;
      try {
        if (await this.#tryAcquireOrRenew()) return true;
      } catch (error) {
        this.#log.warn({ err: errorSummary(error) }, 'cannot read or write the lease; retrying');
      }
      if (this.#observedHolder !== before && this.#observedHolder) {
        this.#log.info({ leader: this.#observedHolder }, 'new leader observed');
        callbacks.onNewLeader?.(this.#observedHolder);
      }
      await sleep(this.#clock, this.#options.retryPeriodMs * (1 + this.#options.jitter * this.#random()), signal);
    }
    return false;
  }

  async #renewUntilLost(signal: AbortSignal): Promise<'lost' | 'released'> {
    let lastRenew = this.#clock.now();
    for (;;) {
      await sleep(this.#clock, this.#options.retryPeriodMs, signal);
      if (signal.aborted) return 'released';
      const remaining = this.#options.renewDeadlineMs - (this.#clock.now() - lastRenew);
      try {
        if (remaining > 0 && (await this.#bounded(this.#tryAcquireOrRenew(), remaining))) {
          lastRenew = this.#clock.now();
          continue;
        }
      } catch (error) {
        this.#log.warn({ err: errorSummary(error) }, 'lease renewal failed');
      }
      if (this.#clock.now() - lastRenew >= this.#options.renewDeadlineMs) return 'lost';
    }
  }

  /** One attempt: true when this replica holds the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace } = this.#options;
    const now = this.#clock.now();
    const header = leaseHeader(name, namespace);
    let current: Lease;
    try {
      current = await this.#kube.read<Lease>(header);
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
      const body: Lease = { ...header, spec: this.#spec(now, undefined) };
      try {
        this.#observe(await this.#kube.create(body, { fieldManager: FIELD_MANAGER }), now);
        return true;
      } catch (createError) {
        if (statusCodeOf(createError) === 409) return false; // another candidate created it first
        throw createError;
      }
    }
    this.#observe(current, now);
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== this.identity && this.#observedAt + durationMs > now) return false;
    const body: Lease = { ...header, metadata: { ...current.metadata, name, namespace }, spec: this.#spec(now, current.spec) };
    try {
      this.#observe(await this.#kube.replace(body, { fieldManager: FIELD_MANAGER }), now);
      return true;
    } catch (error) {
      if (statusCodeOf(error) === 409) return false; // someone wrote it since we read it
      throw error;
    }
  }

  #spec(now: number, previous: LeaseSpec | undefined): LeaseSpec {
    const renewing = previous?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
      acquireTime: renewing && previous?.acquireTime ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: renewing ? (previous?.leaseTransitions ?? 0) : (previous?.leaseTransitions ?? -1) + 1,
    };
  }

  #observe(lease: Lease, now: number): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseTransitions, spec.leaseDurationSeconds]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = now;
    }
    this.#observedHolder = spec.holderIdentity ?? '';
  }

  /** Gives the Lease up so a standby need not wait for it to expire. Best effort: it expires anyway. */
  async #release(): Promise<void> {
    const { name, namespace } = this.#options;
    try {
      const current = await this.#bounded(this.#kube.read<Lease>(leaseHeader(name, namespace), { timeoutMs: this.#options.retryPeriodMs }), this.#options.retryPeriodMs);
      if (current.spec?.holderIdentity !== this.identity) return;
      const body: Lease = { ...current, metadata: { ...current.metadata }, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.#clock.now()) } };
      await this.#bounded(this.#kube.replace(body, { fieldManager: FIELD_MANAGER, timeoutMs: this.#options.retryPeriodMs }), this.#options.retryPeriodMs);
      this.#log.info('released the lease');
    } catch (error) {
      this.#log.warn({ err: errorSummary(error) }, 'could not release the lease; it will expire on its own');
    }
  }

  /** A Lease request bounded by `ms` on the injected clock. */
  #bounded<T>(request: Promise<T>, ms: number): Promise<T> {
    return withTimeout(this.#clock, ms, request, () => new OperatorError('LEASE_REQUEST_TIMEOUT', `lease request took longer than ${ms} ms`));
  }
}

function leaseHeader(name: string, namespace: string): Lease {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace } };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
