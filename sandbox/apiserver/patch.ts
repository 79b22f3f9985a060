/**
 * The three patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic
 * merge patch. The strategic subset: maps merge, keyed lists (containers, env, ports, volumes,
 * conditions, ownerReferences…) merge by key, `metadata.finalizers` merges as a set, other lists
 * are replaced; directives `$patch: replace|delete|merge`, `$retainKeys`,
 * `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` (order only) are understood.
 */
import { badRequest, ApiError } from './errors.ts';
import type { ListTypeOf } from './listtypes.ts';
import { hasOwn, own, refuseKey, setOwn } from './own.ts';

type Json = any;
const isMap = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isMap(patch)) return structuredClone(patch);
  const result: Record<string, Json> = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, mergePatch(own(result, key), value));
  }
  return result;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer ${JSON.stringify(path)}`);
  const tokens = path === '' ? [] : path.slice(1).split('/').map(unescapePointer);
  for (const token of tokens) refuseKey(token, 'a JSON patch path segment');
  return tokens;
}

/** One step down a JSON pointer: own properties and array indexes only. */
function child(node: Json, token: string): Json {
  return Array.isArray(node) ? (/^\d+$/.test(token) ? node[Number(token)] : undefined) : own(node, token);
}

function parentOf(doc: Json, tokens: string[], op: string): { parent: Json; key: string } {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    node = child(node, token);
    if (node === undefined || node === null || typeof node !== 'object') {
      throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
    }
  }
  return { parent: node, key: tokens[tokens.length - 1] };
}

function getPointer(doc: Json, tokens: string[]): Json {
  let node = doc;
  for (const token of tokens) node = child(node, token);
  return node;
}

/** RFC 6902 on a copy of `doc`. A failed `test` is a 422, as kube-apiserver answers. */
export function jsonPatch(doc: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw badRequest('the JSON patch must be an array of operations');
  let result = structuredClone(doc);
  for (const op of operations) {
    if (!isMap(op)) throw badRequest('each JSON patch operation must be an object');
    const tokens = pointer(op.path);
    const missing = () => new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${op.op} operation does not apply: doc is missing path: "${op.path}": missing value`);
    const setAt = (value: Json, insert: boolean) => {
      if (tokens.length === 0) {
        result = value;
        return;
      }
      const { parent, key } = parentOf(result, tokens, op.op);
      if (Array.isArray(parent)) {
        const index = key === '-' ? parent.length : Number(key);
        if (!Number.isInteger(index) || index < 0 || index > parent.length) throw missing();
        if (insert) parent.splice(index, 0, value);
        else parent[index] = value;
      } else setOwn(parent, key, value);
    };
    const removeAt = () => {
      const { parent, key } = parentOf(result, tokens, op.op);
      if (Array.isArray(parent)) {
        const index = Number(key);
        if (!(index >= 0 && index < parent.length)) throw missing();
        parent.splice(index, 1);
      } else {
        if (!hasOwn(parent, key)) throw missing();
        delete parent[key];
      }
    };
    switch (op.op) {
      case 'add':
        setAt(structuredClone(op.value), true);
        break;
      case 'replace':
        if (getPointer(result, tokens) === undefined) throw missing();
        setAt(structuredClone(op.value), false);
        break;
      case 'remove':
        removeAt();
        break;
      case 'move':
      case 'copy': {
        const value = getPointer(result, pointer(op.from));
        if (value === undefined) throw missing();
        if (op.op === 'move') {
          const fromTokens = pointer(op.from);
          const { parent, key } = parentOf(result, fromTokens, op.op);
          if (Array.isArray(parent)) parent.splice(Number(key), 1);
          else if (hasOwn(parent, key)) delete parent[key];
        }
        setAt(structuredClone(value), true);
        break;
      }
      case 'test':
        if (JSON.stringify(getPointer(result, tokens)) !== JSON.stringify(op.value)) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed: test failed`);
        }
        break;
      default:
        throw badRequest(`Unexpected kind: ${String(op.op)}`);
    }
  }
  return result;
}

function sameKeys(a: Json, b: Json, keys: string[]): boolean {
  return isMap(a) && isMap(b) && keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/**
 * Merges `patch` into `target` as strategic merge patch does (or, with `apply`, as server-side
 * apply merges a configuration: no directives and no null deletions).
 */
export function strategicMerge(target: Json, patch: Json, listTypes: ListTypeOf, props: string[] = [], apply = false): Json {
  if (!isMap(patch)) return structuredClone(patch);
  if (!apply && patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return structuredClone(rest);
  }
  if (!apply && patch.$patch === 'delete') return undefined;
  const result: Record<string, Json> = isMap(target) ? { ...target } : {};
  if (!apply && Array.isArray(patch.$retainKeys)) {
    for (const key of Object.keys(result)) if (!patch.$retainKeys.includes(key) && !hasOwn(patch, key)) delete result[key];
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const list = own(result, field);
      if (Array.isArray(list) && Array.isArray(value)) setOwn(result, field, list.filter((v: Json) => !value.includes(v)));
      continue;
    }
    if (value === null && !apply) {
      delete result[key];
      continue;
    }
    const path = [...props, key];
    if (Array.isArray(value)) {
      setOwn(result, key, mergeList(own(result, key), value, listTypes, path, apply));
      continue;
    }
    const merged = isMap(value) ? strategicMerge(own(result, key), value, listTypes, path, apply) : structuredClone(value);
    if (merged === undefined) delete result[key];
    else setOwn(result, key, merged);
  }
  return result;
}

function mergeList(current: Json, patch: Json[], listTypes: ListTypeOf, path: string[], apply: boolean): Json[] {
  const listType = listTypes(path);
  const existing: Json[] = Array.isArray(current) ? [...current] : [];
  if (listType.kind === 'set') {
    for (const v of patch) if (!existing.some((e) => JSON.stringify(e) === JSON.stringify(v))) existing.push(structuredClone(v));
    return existing;
  }
  if (listType.kind !== 'map' || !patch.every(isMap)) return structuredClone(patch);
  if (!apply && patch.some((p) => p.$patch === 'replace')) return patch.filter((p) => p.$patch !== 'replace').map((p) => structuredClone(p));
  for (const item of patch) {
    const index = existing.findIndex((e) => sameKeys(e, item, listType.keys));
    if (!apply && item.$patch === 'delete') {
      if (index >= 0) existing.splice(index, 1);
      continue;
    }
    if (index >= 0) existing[index] = strategicMerge(existing[index], item, listTypes, path, apply);
    else existing.push(strategicMerge(undefined, item, listTypes, path, apply));
  }
  return existing;
}
