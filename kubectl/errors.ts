/**
 * The plugin's errors: each has a stable code and exit status, documented in
 * docs/kubectl-plugin.md (test/kubectl-plugin-errors-doc.test.ts checks that every code is).
 * Scripts may rely on the exit status; people read the message.
 */
export const PLUGIN_ERRORS = Object.freeze({
  API_ERROR: { exit: 1, doc: 'the API server could not be reached, or answered with an error not listed below' },
  USAGE: { exit: 2, doc: 'unknown command or flag, a missing or extra argument, or a flag value that does not parse' },
  NOT_FOUND: { exit: 3, doc: 'the RealtimeCluster, a region of it, or a Secret or key it names, does not exist' },
  FORBIDDEN: { exit: 4, doc: 'the API server refused the request (401 or 403): your identity lacks the permission named in the message' },
  NO_SHARED_SECRET: { exit: 6, doc: 'token: the cluster verifies client tokens through a JWKS URL, so there is no shared secret to sign with' },
  KUBECONFIG_INVALID: { exit: 7, doc: 'the kubeconfig cannot be loaded, or --context names a context it does not have' },
} as const);

export type PluginErrorCode = keyof typeof PLUGIN_ERRORS;

export class PluginError extends Error {
  readonly code: PluginErrorCode;
  constructor(code: PluginErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginError';
    this.code = code;
  }

  get exitCode(): number {
    return PLUGIN_ERRORS[this.code].exit;
  }
}

/** The HTTP status of a client-node ApiException, or undefined when no answer came. */
export function httpStatusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The `message` of a Kubernetes Status body (what kubectl prints after "Error from server"). */
function serverMessage(error: unknown): string | undefined {
  const body = (error as { body?: unknown } | null)?.body;
  try {
    const parsed = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof parsed?.message === 'string' ? parsed.message : undefined;
  } catch {
    // Not a Status body (a proxy's HTML page, say): the caller falls back to the HTTP status.
    return undefined;
  }
}

/**
 * Turns an API failure into a PluginError with the right code. `what` names the request for the
 * message ("read RealtimeCluster tenants/classrooms"); `hint` is added to 403s (which permission).
 */
export function fromApiError(error: unknown, what: string, hint = ''): PluginError {
  if (error instanceof PluginError) return error;
  const status = httpStatusOf(error);
  const detail = serverMessage(error) ?? (status !== undefined ? `HTTP ${status}` : error instanceof Error ? error.message : String(error));
  if (status === 401 || status === 403) return new PluginError('FORBIDDEN', `cannot ${what}: ${detail}${hint ? `\n${hint}` : ''}`, { cause: error });
  if (status === 404) return new PluginError('NOT_FOUND', `cannot ${what}: ${detail}`, { cause: error });
  return new PluginError('API_ERROR', `cannot ${what}: ${detail}`, { cause: error });
}
