/**
 * API errors as kube-apiserver shapes them: a `Status` object with a stable `reason` and HTTP code.
 * Every failure the emulator returns is built here, so wording stays in one place.
 */

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  /** Extra response headers (Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: number, reason: string, message: string, details?: StatusDetails, headers: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }

  toStatus(): Record<string, unknown> {
    return statusObject(this.code, this.reason, this.message, this.details);
  }
}

export function statusObject(code: number, reason: string, message: string, details?: StatusDetails): Record<string, unknown> {
  const status: Record<string, unknown> = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    message,
    // An error the server could not classify has no reason (StatusReasonUnknown is "").
    ...(reason ? { reason } : {}),
    code,
  };
  if (details) status.details = details;
  return status;
}

/** `deployments.apps` or `configmaps` — how kube-apiserver names a resource in messages. */
export interface ResourceRef {
  plural: string;
  group: string;
}

export function qualified(ref: ResourceRef): string {
  return ref.group ? `${ref.plural}.${ref.group}` : ref.plural;
}

export function notFound(ref: ResourceRef, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(ref)} "${name}" not found`, { name, group: ref.group, kind: ref.plural });
}

export function alreadyExists(ref: ResourceRef, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(ref)} "${name}" already exists`, { name, group: ref.group, kind: ref.plural });
}

export function conflict(ref: ResourceRef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${name}": ${why}`, {
    name,
    group: ref.group,
    kind: ref.plural,
  });
}

/** 422 Invalid: `Kind.group "name" is invalid: [cause, cause]`, one cause per field. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const texts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const joined = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, { name, group, kind, causes });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`);
}

export function forbidden(ref: ResourceRef, name: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualified(ref)} "${name}" is forbidden: ${why}`, { name, group: ref.group, kind: ref.plural });
}

/** RBAC's refusal, worded as kube-apiserver's authorizer words it. */
export function rbacForbidden(user: string, verb: string, ref: ResourceRef, namespace: string | undefined, name: string | undefined): ApiError {
  const target = name ? `${qualified(ref)} "${name}"` : qualified(ref);
  const scope = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  return new ApiError(403, 'Forbidden', `${target} is forbidden: User "${user}" cannot ${verb} resource "${ref.plural}" in API group "${ref.group}"${scope}`, { ...(name ? { name } : {}), group: ref.group, kind: ref.plural });
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function routeNotFound(path: string): ApiError {
  return new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);
}

export function injected(code: 429 | 500 | 503, retryAfterSeconds?: number): ApiError {
  const reason = code === 429 ? 'TooManyRequests' : code === 503 ? 'ServiceUnavailable' : 'InternalError';
  const headers: Record<string, string> = retryAfterSeconds !== undefined ? { 'Retry-After': String(retryAfterSeconds) } : {};
  const details = retryAfterSeconds !== undefined ? { retryAfterSeconds } : undefined;
  return new ApiError(code, reason, `injected fault: ${reason}`, details, headers);
}
