/**
 * Server-side apply: merges an applied configuration into the live object and keeps per-manager
 * field ownership. A field another manager owns with a different value is a conflict (409,
 * naming field and manager) unless `force`, which moves ownership. Fields this manager applied
 * before and no longer applies are removed, unless someone else also owns them.
 */
import { ApiError } from './errors.ts';
import type { ListTypeOf } from './listtypes.ts';
import { describePath, fieldsOf, readEntries, scopeOf, splitPath, writeEntries, type ManagedEntry } from './managed-fields.ts';
import { strategicMerge } from './patch.ts';
import type { KubeObject } from './registry.ts';
import { timestamp } from './time.ts';

export interface ApplyRequest {
  manager: string;
  force: boolean;
  subresource?: string;
  /** The kind has a /status subresource (status is then owned separately). */
  statusSeparate: boolean;
  listTypes: ListTypeOf;
  now: Date;
  apiVersion: string;
}

const isMap = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns the merged object (not yet admitted or stored), with managedFields updated. */
export function serverSideApply(live: KubeObject | undefined, config: KubeObject, request: ApplyRequest): KubeObject {
  const scope = scopeOf(request.subresource);
  const scoped = scopeConfig(config, scope, request.statusSeparate);
  const applied = fieldsOf(scoped, request.listTypes, scope, request.statusSeparate);
  const current = live ? fieldsOf(live, request.listTypes, scope, request.statusSeparate) : new Map<string, string>();
  const entries = live ? readEntries(live) : [];
  const isMine = (e: ManagedEntry) => e.manager === request.manager && e.operation === 'Apply' && (e.subresource ?? '') === (request.subresource ?? '');

  const conflicts: Array<{ path: string; entry: ManagedEntry }> = [];
  for (const entry of entries) {
    if (isMine(entry) || scopeOf(entry.subresource) !== scope) continue;
    for (const path of entry.paths) {
      if (applied.has(path) && current.has(path) && current.get(path) !== applied.get(path)) conflicts.push({ path, entry });
    }
  }
  if (conflicts.length > 0 && !request.force) throw conflictError(conflicts);
  for (const { path, entry } of conflicts) entry.paths.delete(path);

  let merged = strategicMerge(live ? structuredClone(live) : {}, scoped, request.listTypes, [], true) as KubeObject;
  const mine = entries.find(isMine);
  const ownedByOthers = new Set(entries.filter((e) => !isMine(e)).flatMap((e) => [...e.paths]));
  const stale = [...(mine?.paths ?? [])].filter((p) => !applied.has(p) && !ownedByOthers.has(p));
  // Deepest first, so an item removal does not hide a leaf removal inside it.
  stale.sort((a, b) => splitPath(b).length - splitPath(a).length);
  for (const path of stale) merged = removePath(merged, splitPath(path));

  const paths = new Set(applied.keys());
  if (mine) {
    const changed = mine.paths.size !== paths.size || [...paths].some((p) => !mine.paths.has(p));
    mine.paths = paths;
    if (changed) mine.time = timestamp(request.now);
  } else {
    entries.push({ manager: request.manager, operation: 'Apply', apiVersion: request.apiVersion, time: timestamp(request.now), subresource: request.subresource, paths });
  }
  merged.metadata ??= {};
  writeEntries(merged, entries);
  return merged;
}

/** The part of an applied configuration a write through `scope` may set. */
function scopeConfig(config: KubeObject, scope: 'main' | 'status', statusSeparate: boolean): KubeObject {
  if (scope === 'status') {
    return { apiVersion: config.apiVersion, kind: config.kind, metadata: { name: config.metadata?.name, namespace: config.metadata?.namespace }, status: config.status };
  }
  const { status: _s, ...rest } = config;
  const result = statusSeparate ? rest : { ...config };
  if (isMap(result.metadata)) {
    const { managedFields: _mf, resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, ...metadata } = result.metadata;
    result.metadata = metadata;
  }
  return result;
}

function removePath(obj: KubeObject, tokens: string[]): KubeObject {
  const parents: any[] = [];
  let node: any = obj;
  const last = tokens[tokens.length - 1] === '.' ? tokens.length - 1 : tokens.length;
  for (let i = 0; i < last - 1; i++) {
    parents.push(node);
    node = step(node, tokens[i]);
    if (node === undefined) return obj;
  }
  const token = tokens[last - 1];
  if (token.startsWith('f:') && isMap(node)) {
    if (Object.hasOwn(node, token.slice(2))) delete node[token.slice(2)];
  }
  else if (token.startsWith('k:') && Array.isArray(node)) {
    const keys = JSON.parse(token.slice(2)) as Record<string, unknown>;
    const index = node.findIndex((item) => isMap(item) && Object.entries(keys).every(([k, v]) => JSON.stringify(item[k]) === JSON.stringify(v)));
    if (index >= 0) node.splice(index, 1);
  } else if (token.startsWith('v:') && Array.isArray(node)) {
    const value = token.slice(2);
    const index = node.findIndex((item) => JSON.stringify(item) === value);
    if (index >= 0) node.splice(index, 1);
  }
  return obj;
}

function step(node: any, token: string): any {
  if (token.startsWith('f:')) return isMap(node) && Object.hasOwn(node, token.slice(2)) ? node[token.slice(2)] : undefined;
  if (token.startsWith('k:') && Array.isArray(node)) {
    const keys = JSON.parse(token.slice(2)) as Record<string, unknown>;
    return node.find((item) => isMap(item) && Object.entries(keys).every(([k, v]) => JSON.stringify(item[k]) === JSON.stringify(v)));
  }
  return undefined;
}

function conflictError(conflicts: Array<{ path: string; entry: ManagedEntry }>): ApiError {
  const n = conflicts.length;
  const describe = (c: { path: string; entry: ManagedEntry }) => `conflict with ${JSON.stringify(c.entry.manager)} using ${c.entry.apiVersion}`;
  const message =
    n === 1
      ? `Apply failed with 1 conflict: ${describe(conflicts[0])}: ${describePath(conflicts[0].path)}`
      : `Apply failed with ${n} conflicts: ${conflicts.map((c) => `${describe(c)}: ${describePath(c.path)}`).join('\n')}`;
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: describe(c), field: describePath(c.path) })),
  });
}
