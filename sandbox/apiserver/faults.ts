/**
 * Injected failures: the next N requests fail with 429/500/503 (optionally with Retry-After),
 * every request can be delayed, and requests matching a rule can be refused with 403 as RBAC
 * would (the emulator has no RBAC; this stands for an identity without a permission). Dropping
 * watches and refusing connections need the HTTP server and live in server.ts; this holds the
 * request-level state.
 */
import { ApiError, injected } from './errors.ts';

export type FailureStatus = 429 | 500 | 503;

/** Kubernetes' request verbs, as RBAC names them. */
export const VERBS = Object.freeze(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const);
export type Verb = (typeof VERBS)[number];

/** Requests refused with 403: a verb on a resource (plural), optionally in one namespace or for one name. */
export interface ForbidRule {
  verb: Verb;
  resource: string;
  namespace?: string;
  name?: string;
}

export class RequestFaults {
  private failures: Array<{ status: FailureStatus; retryAfterSeconds?: number }> = [];
  private latencyMs = 0;
  private forbidden: readonly ForbidRule[] = [];

  failNext(n: number, status: FailureStatus, retryAfterSeconds?: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext: n must be a non-negative integer, got ${n}`);
    if (![429, 500, 503].includes(status)) throw new RangeError(`failNext: status must be 429, 500 or 503, got ${status}`);
    this.failures = Array.from({ length: n }, () => ({ status, retryAfterSeconds }));
  }

  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`setLatency: ms must be >= 0, got ${ms}`);
    this.latencyMs = ms;
  }

  /** Replaces the refused requests' rules; an empty list refuses nothing. */
  forbid(rules: readonly ForbidRule[]): void {
    for (const rule of rules) {
      if (!VERBS.includes(rule.verb)) throw new RangeError(`forbid: verb must be one of ${VERBS.join(', ')}, got ${JSON.stringify(rule.verb)}`);
      if (typeof rule.resource !== 'string' || rule.resource === '') throw new RangeError('forbid: resource (a plural such as "secrets") is required');
    }
    this.forbidden = Object.freeze(rules.map((rule) => Object.freeze({ ...rule })));
  }

  /** The rule refusing this request, if any. */
  forbids(verb: Verb, resource: string, namespace: string | undefined, name: string | undefined): ForbidRule | undefined {
    return this.forbidden.find((rule) => rule.verb === verb && rule.resource === resource && (rule.namespace === undefined || rule.namespace === namespace) && (rule.name === undefined || rule.name === name));
  }

  latency(): number {
    return this.latencyMs;
  }

  /** The failure for this request, if one is pending. */
  take(): ApiError | undefined {
    const next = this.failures.shift();
    return next ? injected(next.status, next.retryAfterSeconds) : undefined;
  }
}
