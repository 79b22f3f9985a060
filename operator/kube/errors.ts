/**
 * The Kubernetes client's two error types, each with a stable `code`:
 *
 * - KubeApiError: the API server answered with an HTTP error status. `statusCode` is that status
 *   (404, 409, 410, 422 …) and `body` the parsed Status object (or the raw text when it was not
 *   JSON). `headers` carries Retry-After for 429/503.
 * - KubeConfigError: a kubeconfig cannot be used (does not parse, names no current context, asks
 *   for an authentication form this client does not support, or its exec plugin failed).
 *
 * - KubeClientError: the client itself refused or stopped a request (a response or watch line
 *   over its byte limit, an object without a name where one is required, a closed client).
 *
 * A request that got no HTTP answer (refused, reset, DNS, timed out, aborted) rejects with the
 * error Node gave (`code` ECONNREFUSED, ECONNRESET …; `name` TimeoutError or AbortError): it is
 * never a KubeApiError, so callers can tell "the server said no" from "no server answered".
 */

export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class KubeApiError extends Error {
  readonly code = 'KUBE_API_ERROR';
  readonly statusCode: number;
  /** The Status `reason` (NotFound, Conflict, Expired …) when the body had one. */
  readonly reason: string | undefined;
  readonly body: KubeStatus | string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;

  constructor(method: string, path: string, statusCode: number, body: KubeStatus | string, headers: Record<string, string | string[] | undefined>) {
    const detail = typeof body === 'object' && typeof body.message === 'string' ? `: ${body.message}` : '';
    super(`${method} ${path}: HTTP ${statusCode}${detail}`);
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.reason = typeof body === 'object' && typeof body.reason === 'string' ? body.reason : undefined;
    this.body = body;
    this.headers = headers;
  }
}

export const KUBE_CONFIG_ERROR_CODES = Object.freeze({
  KUBECONFIG_INVALID: 'the kubeconfig does not parse, or its current context does not name a cluster and a user',
  KUBECONFIG_INVALID_SERVER: "the cluster's server is not an http(s) URL, or carries a query, a fragment or credentials",
  KUBECONFIG_UNSUPPORTED_AUTH: 'the kubeconfig asks for something this client does not support (auth-provider, username/password, impersonation, proxy-url)',
  KUBECONFIG_FORBIDDEN_REFERENCE: 'a kubeconfig that must be self-contained names a file or an exec plugin',
  KUBECONFIG_IN_CLUSTER_UNAVAILABLE: 'the in-cluster configuration (service-account token, KUBERNETES_SERVICE_HOST) is absent',
  EXEC_CREDENTIAL_FAILED: "the kubeconfig's exec credential plugin failed or printed no usable ExecCredential",
});

export type KubeConfigErrorCode = keyof typeof KUBE_CONFIG_ERROR_CODES;

export class KubeConfigError extends Error {
  readonly code: KubeConfigErrorCode;
  constructor(code: KubeConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeConfigError';
    this.code = code;
  }
}

export const KUBE_CLIENT_ERROR_CODES = Object.freeze({
  KUBE_RESPONSE_TOO_LARGE: 'a response body passed the client’s maxResponseBytes; the connection was closed',
  KUBE_WATCH_LINE_TOO_LARGE: 'one watch event (one line) passed the client’s maxWatchLineBytes; the watch was closed',
  KUBE_OBJECT_NAME_REQUIRED: 'an object (or namespace) name was empty, "." or "..", where the path needs one',
  KUBE_CLIENT_CLOSED: 'a request was made after close()',
});

export type KubeClientErrorCode = keyof typeof KUBE_CLIENT_ERROR_CODES;

export class KubeClientError extends Error {
  readonly code: KubeClientErrorCode;
  constructor(code: KubeClientErrorCode, message: string) {
    super(message);
    this.name = 'KubeClientError';
    this.code = code;
  }
}
