/**
 * Rebalancing: after a scale-up, existing clients stay on the old pods, so new pods would take
 * no load. The operator tells a pod that holds more than its share to shed the excess, and the
 * pod closes that many connections with 1012 (reconnect elsewhere), slowly: at most
 * `perMinute` a minute, oldest first, and only while it still holds more than `targetConnections`.
 *
 * An instruction expires after `ttlMs` unless renewed, so a pod never sheds on the word of an
 * operator that has since gone away or changed its mind. Rates and lifetimes the operator asks
 * for are capped by `rebalance.maxShedPerMinute` and `rebalance.maxInstructionTtlMs`.
 * A draining pod ignores instructions: it is closing everything anyway.
 */
import type { Logger } from 'pino';
import { TokenBucket } from '../lib/token-bucket.ts';
import { gatewayError } from './errors.ts';

export interface ShedInstruction {
  /** Shed until the pod holds this many connections. */
  targetConnections: number;
  /** Most connections closed per minute. */
  perMinute: number;
  /** The instruction lapses after this long unless renewed. */
  ttlMs: number;
}

export interface ShedLimits {
  maxShedPerMinute: number;
  maxInstructionTtlMs: number;
  tickMs: number;
}

/** What the pod is doing about an instruction (the endpoint's answer). */
export interface ShedState {
  active: boolean;
  targetConnections?: number;
  perMinute?: number;
  expiresInMs?: number;
  shed: number;
}

interface Closable {
  readonly isOpen: boolean;
  close(reason: 'DRAINING', text: string): void;
}

export interface ShedderDeps<C extends Closable> {
  limits: ShedLimits;
  /** The pod's connections, oldest first (a Set keeps insertion order). */
  connections: () => ReadonlySet<C>;
  draining: () => boolean;
  logger: Logger;
  now: () => number;
}

/** Parses and bounds an instruction from a request body; throws BAD_REQUEST on anything else. */
export function parseShedInstruction(body: unknown, limits: ShedLimits): ShedInstruction {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw gatewayError('BAD_REQUEST', 'body must be a JSON object {targetConnections, perMinute, ttlMs}');
  const record = body as Record<string, unknown>;
  const field = (name: string, min: number, max: number): number => {
    const value = record[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw gatewayError('BAD_REQUEST', `${name} must be an integer between ${min} and ${max}`);
    return value;
  };
  return {
    targetConnections: field('targetConnections', 0, Number.MAX_SAFE_INTEGER),
    perMinute: field('perMinute', 1, limits.maxShedPerMinute),
    ttlMs: field('ttlMs', 1, limits.maxInstructionTtlMs),
  };
}

export class Shedder<C extends Closable> {
  readonly #deps: ShedderDeps<C>;
  #instruction: (ShedInstruction & { expiresAt: number; bucket: TokenBucket }) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #shed = 0;

  constructor(deps: ShedderDeps<C>) {
    this.#deps = deps;
  }

  /** Replaces the current instruction (a renewal keeps the bucket, so renewing never adds a burst). */
  instruct(instruction: ShedInstruction): ShedState {
    const { now } = this.#deps;
    const previous = this.#instruction;
    const bucket =
      previous && previous.perMinute === instruction.perMinute
        ? previous.bucket
        : // A burst of what one tick earns: the closes are spread evenly over the minute, never bunched.
          new TokenBucket({ ratePerSec: instruction.perMinute / 60, burst: Math.max(1, Math.ceil((instruction.perMinute * this.#deps.limits.tickMs) / 60_000)), now });
    this.#instruction = { ...instruction, expiresAt: now() + instruction.ttlMs, bucket };
    if (!previous) this.#deps.logger.info({ targetConnections: instruction.targetConnections, perMinute: instruction.perMinute }, 'rebalancing: shedding connections');
    this.#timer ??= setInterval(() => this.#tick(), this.#deps.limits.tickMs);
    this.#timer.unref();
    this.#tick();
    return this.state();
  }

  state(): ShedState {
    const current = this.#instruction;
    if (!current) return { active: false, shed: this.#shed };
    return { active: true, targetConnections: current.targetConnections, perMinute: current.perMinute, expiresInMs: Math.max(0, current.expiresAt - this.#deps.now()), shed: this.#shed };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#instruction = undefined;
  }

  #tick(): void {
    const current = this.#instruction;
    if (!current) return;
    const connections = this.#deps.connections();
    if (this.#deps.draining() || this.#deps.now() >= current.expiresAt) {
      this.#deps.logger.info({ shed: this.#shed, connections: connections.size }, 'rebalancing: done');
      this.stop();
      return;
    }
    // A closed connection stays in the set until its close handshake ends: count only open ones.
    let open = 0;
    for (const conn of connections) if (conn.isOpen) open += 1;
    let excess = open - current.targetConnections;
    for (const conn of connections) {
      if (excess <= 0) break;
      if (!conn.isOpen) continue;
      if (!current.bucket.take()) break;
      conn.close('DRAINING', 'server rebalancing; reconnect');
      this.#shed += 1;
      excess -= 1;
    }
  }
}
