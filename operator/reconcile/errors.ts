/**
 * Errors of the reconcile logic, each with a stable `reason` (also used as a status/condition
 * reason), and the classification of client errors into "not found", "the region is not
 * answering" and "the API said no".
 */
import { ApiException } from '@kubernetes/client-node';

export const ReconcileErrorReason = {
  /** A regional object with our name carries another RealtimeCluster's label: never overwritten. */
  ObjectOwnedByOtherCluster: 'ObjectOwnedByOtherCluster',
  /** The region's API answered with an error other than "not found" (after the client's own retries). */
  RegionApiError: 'RegionApiError',
  /** The region's API could not be reached (connection refused, reset, timed out). */
  RegionUnreachable: 'RegionUnreachable',
} as const;
export type ReconcileErrorReason = (typeof ReconcileErrorReason)[keyof typeof ReconcileErrorReason];

export class ReconcileError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReconcileError';
    this.reason = reason;
  }
}

/** A region call that got no answer within its timeout: treated like a refused connection. */
export class RegionTimeoutError extends Error {
  readonly code = 'REGION_CALL_TIMEOUT';
  constructor(region: string, timeoutMs: number) {
    super(`region ${region} did not answer within ${timeoutMs} ms`);
    this.name = 'RegionTimeoutError';
  }
}

/** The HTTP status of an API error, or undefined when the request got no answer at all. */
export function httpStatus(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  return undefined;
}

export function isNotFound(error: unknown): boolean {
  return httpStatus(error) === 404;
}

/**
 * True when the API server gave no HTTP answer (refused, reset, timed out, DNS): the region is
 * possibly dark. Any HTTP status, even 503, is an answer from a reachable server.
 */
export function isConnectivityError(error: unknown): boolean {
  return !(error instanceof ApiException) && !(error instanceof ReconcileError);
}

/** A short, secret-free description of a client error for status messages and logs. */
export function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as { message?: unknown } | string | undefined;
    const detail = typeof body === 'object' && body && typeof body.message === 'string' ? body.message : '';
    return detail ? `HTTP ${error.code}: ${detail}` : `HTTP ${error.code}`;
  }
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const code = cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
    return `${error.message}${code}`;
  }
  return String(error);
}
