/**
 * ObjectMeta and the top-level fields of built-in kinds, as kube-apiserver decodes and validates
 * them for every kind (custom resources included):
 * - decoding: `labels`/`annotations` must be maps of strings, `finalizers` a list of strings
 *   (anything else is the decoder's 400); unknown `metadata.*` fields, and unknown top-level
 *   fields of built-in kinds, are dropped, with a Warning under fieldValidation=Warn and a 400
 *   `strict decoding error` under Strict;
 * - validation (422): names, label keys and values, annotation keys and their total size
 *   (apimachinery's ValidateObjectMeta wording).
 */
import { badRequest, type StatusCause } from './errors.ts';
import type { FieldValidation } from './query.ts';
import type { KubeObject, ResourceType } from './registry.ts';
import { validateMetadataName } from './validation.ts';

const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

/** Top-level fields of the built-in kinds (besides apiVersion, kind, metadata), from k8s.io/api. */
const BUILTIN_FIELDS: Record<string, string[]> = {
  '/Namespace': ['spec', 'status'],
  '/ConfigMap': ['data', 'binaryData', 'immutable'],
  '/Secret': ['data', 'stringData', 'type', 'immutable'],
  '/Service': ['spec', 'status'],
  '/ServiceAccount': ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  '/Pod': ['spec', 'status'],
  '/Event': ['involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type', 'eventTime', 'series', 'action', 'related', 'reportingComponent', 'reportingInstance'],
  'events.k8s.io/Event': ['eventTime', 'series', 'reportingController', 'reportingInstance', 'action', 'reason', 'regarding', 'related', 'note', 'type', 'deprecatedSource', 'deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount'],
  'apps/Deployment': ['spec', 'status'],
  'apps/ReplicaSet': ['spec', 'status'],
  'policy/PodDisruptionBudget': ['spec', 'status'],
  'coordination.k8s.io/Lease': ['spec'],
  'apiextensions.k8s.io/CustomResourceDefinition': ['spec', 'status'],
};

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function goType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : typeof value;
}

/** The decoder's 400 for a value of the wrong JSON type. */
function cannotDecode(type: ResourceType, what: string): never {
  throw badRequest(`${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: ${what}`);
}

function checkStringMap(type: ResourceType, value: unknown, field: string): void {
  if (value === undefined || value === null) return;
  if (!isMap(value)) cannotDecode(type, `json: cannot unmarshal ${goType(value)} into Go struct field ObjectMeta.metadata.${field} of type map[string]string`);
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') cannotDecode(type, `json: cannot unmarshal ${goType(v)} into Go struct field ObjectMeta.metadata.${field} of type string`);
  }
}

/**
 * Drops unknown metadata fields (and unknown top-level fields of built-ins), in place, and checks
 * the decodable types; returns the dropped paths. Strict makes any of them a 400.
 */
export function decodeMeta(type: ResourceType, obj: KubeObject, fieldValidation: FieldValidation | undefined, warn?: (message: string) => void): void {
  if (obj.metadata !== undefined && obj.metadata !== null && !isMap(obj.metadata)) {
    cannotDecode(type, `json: cannot unmarshal ${goType(obj.metadata)} into Go struct field .metadata of type v1.ObjectMeta`);
  }
  const metadata: Record<string, unknown> = obj.metadata ?? {};
  checkStringMap(type, metadata.labels, 'labels');
  checkStringMap(type, metadata.annotations, 'annotations');
  if (metadata.finalizers !== undefined && metadata.finalizers !== null && !(Array.isArray(metadata.finalizers) && metadata.finalizers.every((f) => typeof f === 'string'))) {
    cannotDecode(type, `json: cannot unmarshal ${goType(metadata.finalizers)} into Go struct field ObjectMeta.metadata.finalizers of type []string`);
  }
  const unknown = Object.keys(metadata).filter((k) => !OBJECT_META_FIELDS.has(k)).map((k) => `metadata.${k}`);
  const known = type.schema ? undefined : BUILTIN_FIELDS[`${type.group}/${type.kind}`];
  if (known) unknown.push(...Object.keys(obj).filter((k) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata' && !known.includes(k)));
  reportUnknown(type, unknown, fieldValidation, warn);
  for (const path of unknown) {
    if (path.startsWith('metadata.')) delete metadata[path.slice('metadata.'.length)];
    else delete obj[path];
  }
}

/** What fieldValidation makes of dropped fields: nothing (Ignore), a Warning each (Warn), a 400 (Strict). */
export function reportUnknown(type: ResourceType, unknown: string[], fieldValidation: FieldValidation | undefined, warn?: (message: string) => void): void {
  if (unknown.length === 0) return;
  if (fieldValidation === 'Strict') cannotDecode(type, `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
  if (fieldValidation === 'Warn') for (const f of unknown) warn?.(`unknown field "${f}"`);
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** apimachinery's TotalAnnotationSizeLimitB. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** Problems of a qualified name (`prefix/name` or `name`), worded as IsQualifiedName words them. */
function qualifiedNameProblems(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const problems: string[] = [];
  if (parts.length === 2) {
    const [prefix] = parts;
    name = parts[1];
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      problems.push(
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
    }
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > 63) problems.push('name part must be no more than 63 characters');
  if (name.length > 0 && !NAME_PART.test(name)) {
    problems.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  }
  return problems;
}

/** ValidateObjectMeta's checks that apply to every kind (422 causes). */
export function validateObjectMeta(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = validateMetadataName(obj.metadata?.name).map((c) => ({ reason: 'FieldValueInvalid', ...c }));
  const labels: Record<string, string> = obj.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(labels)) {
    for (const problem of qualifiedNameProblems(key)) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.labels', message: `Invalid value: ${JSON.stringify(key)}: ${problem}` });
    if (value.length > 63) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.labels', message: `Invalid value: ${JSON.stringify(value)}: must be no more than 63 characters` });
    if (!LABEL_VALUE.test(value)) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.labels',
        message: `Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      });
    }
  }
  const annotations: Record<string, string> = obj.metadata?.annotations ?? {};
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    for (const problem of qualifiedNameProblems(key.toLowerCase())) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.annotations', message: `Invalid value: ${JSON.stringify(key)}: ${problem}` });
    size += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (size > MAX_ANNOTATIONS_BYTES) causes.push({ reason: 'FieldValueTooLong', field: 'metadata.annotations', message: `Too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes` });
  return causes;
}
