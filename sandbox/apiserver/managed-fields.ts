/**
 * Field ownership (metadata.managedFields, FieldsV1 format). A field set is a map from a path —
 * tokens such as `f:spec`, `k:{"name":"app"}` (a keyed list item), `v:"x"` (a set member) and
 * `.` (the list item itself) — to the JSON of the value there, so that "changed" and "same value"
 * are string comparisons. Update operations take the fields they change; apply is in apply.ts.
 */
import { canonicalJson } from './canonical.ts';
import type { ListTypeOf } from './listtypes.ts';
import type { KubeObject } from './registry.ts';
import { timestamp } from './time.ts';

export type FieldSet = Map<string, string>;

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  paths: Set<string>;
}

/** Which part of an object a write may touch: the status subresource, or everything else. */
export type Scope = 'main' | 'status';

const SEP = '\n';
const SERVER_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']);

const isMap = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The leaf fields of an object within a scope. `statusSeparate`: the kind has a /status subresource. */
export function fieldsOf(obj: KubeObject, listTypes: ListTypeOf, scope: Scope, statusSeparate: boolean): FieldSet {
  const out: FieldSet = new Map();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind') continue;
    if (scope === 'status' ? key !== 'status' : key === 'status' && statusSeparate) continue;
    if (key === 'metadata' && isMap(value)) {
      for (const [mk, mv] of Object.entries(value)) {
        if (!SERVER_METADATA.has(mk)) collect(mv, ['metadata', mk], [`f:metadata`, `f:${mk}`], out, listTypes);
      }
      continue;
    }
    collect(value, [key], [`f:${key}`], out, listTypes);
  }
  return out;
}

function collect(value: unknown, props: string[], tokens: string[], out: FieldSet, listTypes: ListTypeOf): void {
  if (isMap(value) && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) collect(child, [...props, key], [...tokens, `f:${key}`], out, listTypes);
    return;
  }
  if (Array.isArray(value)) {
    const listType = listTypes(props);
    if (listType.kind === 'map' && value.every(isMap)) {
      for (const item of value) {
        const itemToken = `k:${JSON.stringify(Object.fromEntries(listType.keys.map((k) => [k, item[k]])))}`;
        out.set([...tokens, itemToken, '.'].join(SEP), '');
        for (const [key, child] of Object.entries(item)) collect(child, [...props, key], [...tokens, itemToken, `f:${key}`], out, listTypes);
      }
      return;
    }
    if (listType.kind === 'set') {
      for (const item of value) out.set([...tokens, `v:${JSON.stringify(item)}`].join(SEP), '');
      return;
    }
  }
  out.set(tokens.join(SEP), canonicalJson(value));
}

export function splitPath(path: string): string[] {
  return path.split(SEP);
}

/** `.spec.template.spec.containers[name="app"].image` — how conflicts name a field. */
export function describePath(path: string): string {
  return splitPath(path)
    .map((t) => {
      if (t.startsWith('f:')) return `.${t.slice(2)}`;
      if (t.startsWith('k:')) {
        const keys = JSON.parse(t.slice(2)) as Record<string, unknown>;
        return `[${Object.entries(keys).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
      }
      if (t.startsWith('v:')) return `[=${t.slice(2)}]`;
      return '';
    })
    .join('');
}

export function toFieldsV1(paths: Iterable<string>): Record<string, any> {
  const root: Record<string, any> = {};
  for (const path of paths) {
    let node = root;
    for (const token of splitPath(path)) node = node[token] ??= {};
  }
  return root;
}

export function fromFieldsV1(tree: Record<string, any> | undefined, prefix: string[] = [], out = new Set<string>()): Set<string> {
  for (const [token, child] of Object.entries(tree ?? {})) {
    const path = [...prefix, token];
    if (isMap(child) && Object.keys(child).length > 0) fromFieldsV1(child, path, out);
    else out.add(path.join(SEP));
  }
  return out;
}

export function readEntries(obj: KubeObject): ManagedEntry[] {
  return ((obj.metadata?.managedFields ?? []) as KubeObject[]).map((e) => ({
    manager: e.manager ?? '',
    operation: e.operation === 'Apply' ? 'Apply' : 'Update',
    apiVersion: e.apiVersion ?? obj.apiVersion,
    time: e.time ?? '',
    subresource: e.subresource || undefined,
    paths: fromFieldsV1(e.fieldsV1),
  }));
}

export function writeEntries(obj: KubeObject, entries: ManagedEntry[]): void {
  const kept = entries.filter((e) => e.paths.size > 0);
  if (kept.length === 0) {
    delete obj.metadata.managedFields;
    return;
  }
  obj.metadata.managedFields = kept.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1([...e.paths].sort()),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}

export function scopeOf(subresource: string | undefined): Scope {
  return subresource === 'status' ? 'status' : 'main';
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((p) => b.has(p));
}

/**
 * Records a non-apply write: `manager` takes every field it changed; other managers of the same
 * scope lose those fields and any that no longer exist.
 */
export function recordUpdate(listTypes: ListTypeOf, old: KubeObject | undefined, next: KubeObject, manager: string, subresource: string | undefined, now: Date, statusSeparate: boolean): void {
  const scope = scopeOf(subresource);
  const after = fieldsOf(next, listTypes, scope, statusSeparate);
  const before = old ? fieldsOf(old, listTypes, scope, statusSeparate) : new Map<string, string>();
  const changed = new Set([...after].filter(([path, value]) => before.get(path) !== value).map(([path]) => path));
  const isMine = (e: ManagedEntry) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '');
  const entries = readEntries(next);
  for (const entry of entries) {
    if (scopeOf(entry.subresource) !== scope) continue;
    const kept = new Set([...entry.paths].filter((p) => after.has(p) && (isMine(entry) || !changed.has(p))));
    if (!sameSet(kept, entry.paths)) entry.paths = kept;
  }
  if (changed.size > 0) {
    let mine = entries.find(isMine);
    if (!mine) {
      mine = { manager, operation: 'Update', apiVersion: next.apiVersion, time: '', subresource, paths: new Set() };
      entries.push(mine);
    }
    for (const path of changed) mine.paths.add(path);
    mine.time = timestamp(now);
  }
  writeEntries(next, entries);
}
