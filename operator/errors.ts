/**
 * Errors of the operator's runtime (leader election, informers, region pool, command line),
 * each with a stable `code`. Reconcile errors live in operator/reconcile/errors.ts.
 */
import { KubeApiError } from './kube/errors.ts';

export const OPERATOR_ERROR_CODES = Object.freeze({
  INVALID_LEADER_TIMING: 'leader election timings must satisfy retryPeriod < renewDeadline < leaseDuration',
  INVALID_LEADER_IDENTITY: 'leader election needs a non-empty identity',
  LEASE_REQUEST_TIMEOUT: 'a Lease read or write took longer than allowed',
  INVALID_ARGUMENT: 'a command-line flag is unknown or its value is invalid',
  KUBECONFIG_UNAVAILABLE: 'no kubeconfig file was given and the in-cluster configuration is absent',
  WATCH_FAILED: 'a watch request was refused by the API server',
  LIST_INVALID: 'a list answer had no items array (an informer lists again after backoff)',
  INFORMER_STOPPED: 'an informer request was abandoned because the informer stopped',
  REGION_CALL_TIMEOUT: 'a call to a region (or its health probe) did not answer in time',
  METRICS_LISTEN_FAILED: 'the /healthz, /readyz and /metrics port is taken or its address is not local',
});

export type OperatorErrorCode = keyof typeof OPERATOR_ERROR_CODES;

export class OperatorError extends Error {
  readonly code: OperatorErrorCode;
  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OperatorError';
    this.code = code;
  }
}

/**
 * The HTTP status of a client error (KubeApiError, or any error carrying a numeric statusCode),
 * or undefined when the request got no answer at all.
 */
export function statusCodeOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isNotFound(error: unknown): boolean {
  return statusCodeOf(error) === 404;
}

/**
 * True when the server answered, so the error proves it reachable: any status below 500
 * (404, 409, 422), except 429, which a server sends when it cannot take more work.
 */
export function isAnswer(error: unknown): boolean {
  const status = statusCodeOf(error);
  return status !== undefined && status < 500 && status !== 429;
}

/** A one-line, body-free description of an error for logs. */
export function errorSummary(error: unknown): { status?: number; code?: string; message: string } {
  const status = statusCodeOf(error);
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null);
  const stableCode = typeof code?.code === 'string' ? code.code : typeof code?.cause?.code === 'string' ? code.cause.code : undefined;
  const message = error instanceof Error ? (error instanceof KubeApiError ? `HTTP ${error.statusCode}` : error.message.split('\n')[0]) : String(error);
  return { ...(status !== undefined ? { status } : {}), ...(stableCode ? { code: stableCode } : {}), message };
}
