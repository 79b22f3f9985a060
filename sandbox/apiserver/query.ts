/**
 * Query parameters as kube-apiserver reads them. Booleans follow apimachinery's
 * Convert_Slice_string_To_bool: absent, `0` or any case of `false` is false and every other
 * value (`true`, `True`, `t`, even an empty string) is true. Integers are parsed strictly (a 400
 * otherwise), and the write options (`dryRun`, `fieldValidation`) and list options
 * (`resourceVersion`, `resourceVersionMatch`) are validated as ValidateCreateOptions and
 * ValidateListOptions do (422 `Invalid`).
 */
import { ApiError, badRequest, invalid } from './errors.ts';

export function queryBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return !(value === '0' || value.toLowerCase() === 'false');
}

/** An int64 query parameter; undefined when absent. */
export function queryInt(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^[-+]?\d+$/.test(value)) throw badRequest(`${name}: strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
  return Number(value);
}

/** The options kind named in 422s about query options ("CreateOptions.meta.k8s.io"). */
export type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'DeleteOptions' | 'ListOptions';

export const FIELD_VALIDATION = ['Ignore', 'Warn', 'Strict'] as const;
export type FieldValidation = (typeof FIELD_VALIDATION)[number];

function optionsInvalid(kind: OptionsKind, field: string, message: string): ApiError {
  return invalid(kind, 'meta.k8s.io', '', [{ reason: 'FieldValueNotSupported', field, message }]);
}

/** `dryRun`: only `All` is defined; true when present. */
export function dryRunOf(query: URLSearchParams, kind: OptionsKind): boolean {
  const values = query.getAll('dryRun');
  if (values.length === 0) return false;
  if (values.some((v) => v !== 'All')) {
    throw optionsInvalid(kind, 'dryRun', `Unsupported value: []string{${values.map((v) => JSON.stringify(v)).join(', ')}}: supported values: "All"`);
  }
  return true;
}

/** `fieldValidation`: Warn when absent, as kube-apiserver defaults it since 1.27. */
export function fieldValidationOf(query: URLSearchParams, kind: OptionsKind): FieldValidation {
  const value = query.get('fieldValidation');
  if (value === null || value === '') return 'Warn';
  if (!(FIELD_VALIDATION as readonly string[]).includes(value)) {
    throw optionsInvalid(kind, 'fieldValidation', `Unsupported value: ${JSON.stringify(value)}: supported values: "", "Ignore", "Strict", "Warn"`);
  }
  return value as FieldValidation;
}

export interface ReadVersion {
  /** The requested resourceVersion as a number (0: any / none). */
  rv: number;
  match?: 'Exact' | 'NotOlderThan';
}

/**
 * `resourceVersion` and `resourceVersionMatch` of a get, list or watch. A version this server has
 * not reached yet is a 504 `Timeout` with cause `ResourceVersionTooLarge`, as the watch cache
 * answers it (a real server first waits up to 3 s for the version to arrive).
 */
export function readVersionOf(query: URLSearchParams, currentRv: number): ReadVersion {
  const text = query.get('resourceVersion') ?? '';
  const match = query.get('resourceVersionMatch') ?? '';
  if (text !== '' && !/^\d+$/.test(text)) throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(text)}: must be a resourceVersion returned by this server`);
  const rv = text === '' ? 0 : Number(text);
  if (match !== '') {
    if (match !== 'Exact' && match !== 'NotOlderThan') {
      throw optionsInvalid('ListOptions', 'resourceVersionMatch', `Unsupported value: ${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""`);
    }
    if (text === '') throw invalid('ListOptions', 'meta.k8s.io', '', [{ reason: 'FieldValueForbidden', field: 'resourceVersionMatch', message: 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided' }]);
    if (match === 'Exact' && rv === 0) {
      throw invalid('ListOptions', 'meta.k8s.io', '', [{ reason: 'FieldValueForbidden', field: 'resourceVersionMatch', message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"' }]);
    }
  }
  if (rv > currentRv) {
    throw new ApiError(504, 'Timeout', `Timeout: Too large resource version: ${rv}, current: ${currentRv}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    }, { 'Retry-After': '1' });
  }
  return { rv, match: match === '' ? undefined : (match as ReadVersion['match']) };
}

/** The longest timer Node keeps (2^31-1 ms, about 24.8 days); a longer watch timeout is "no timeout" in practice. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
