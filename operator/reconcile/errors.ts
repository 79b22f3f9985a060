/**
 * Errors of the reconcile logic, each with a stable `reason` (also used as a status/condition
 * reason), and the classification of client errors into "the region is not answering" and
 * "the API said no". HTTP statuses are read with operator/errors.ts.
 */
import { KubeApiError, KubeClientError } from '../kube/errors.ts';

export const ReconcileErrorReason = {
  /** A regional object with our name carries another RealtimeCluster's label: never overwritten. */
  ObjectOwnedByOtherCluster: 'ObjectOwnedByOtherCluster',
  /** The region's API answered with an error other than "not found" (after the client's own retries). */
  RegionApiError: 'RegionApiError',
  /** The region's API could not be reached (connection refused, reset, timed out). */
  RegionUnreachable: 'RegionUnreachable',
  /** Pub/Sub failed while the relay topology was checked or changed (RelayReady says why). */
  RelayApiError: 'RelayApiError',
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

/**
 * True when the API server gave no HTTP answer (refused, reset, timed out, DNS): the region is
 * possibly dark. Any HTTP status, even 503, is an answer from a reachable server.
 */
export function isConnectivityError(error: unknown): boolean {
  if (error instanceof KubeApiError || error instanceof ReconcileError) return false;
  // A request this side refused to make says nothing of the region; an answer too large to read does.
  if (error instanceof KubeClientError) return !NOT_ABOUT_THE_REGION.has(error.code);
  return true;
}

const NOT_ABOUT_THE_REGION: ReadonlySet<string> = new Set(['KUBE_OBJECT_NAME_REQUIRED', 'KUBE_CLIENT_CLOSED']);

/** A short, secret-free description of a client error for status messages and logs. */
export function describeError(error: unknown): string {
  if (error instanceof KubeApiError) {
    const body = error.body;
    const detail = typeof body === 'object' && typeof body.message === 'string' ? body.message : '';
    return detail ? `HTTP ${error.statusCode}: ${detail}` : `HTTP ${error.statusCode}`;
  }
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const code = cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
    return `${error.message}${code}`;
  }
  return String(error);
}
