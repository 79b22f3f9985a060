/**
 * Walking client-supplied JSON safely. Keys come from requests (patch paths, label keys, field
 * names), so a lookup must never reach an inherited property: `obj["constructor"]` on a plain
 * object is `Object`, and `obj["__proto__"]` is `Object.prototype`, which a write would change
 * for the whole process. Every walk over request data goes through `own` and `setOwn`.
 *
 * `__proto__` itself is refused wherever it appears in a request (as a key of a body, a patch
 * path segment or a selector key): a JavaScript object cannot hold it as an ordinary key without
 * every later copy (spread, structuredClone) turning it back into a prototype change.
 * `constructor`, `prototype`, `toString` … are ordinary keys here, as they are in Kubernetes
 * (a ConfigMap may have a key named `constructor`); own-property walking makes them harmless.
 */
import { badRequest } from './errors.ts';

/** The one key a JSON object may not carry here. */
export const FORBIDDEN_KEY = '__proto__';

/**
 * How deep a request body may nest. kube-apiserver's decoder stops at 10000; the emulator's
 * walks (validation, field ownership, canonical JSON) recurse and would overflow the stack
 * near 2000, so it stops earlier. No Kubernetes object comes close to either.
 */
export const MAX_BODY_DEPTH = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** `obj[key]` when `obj` holds `key` itself, else undefined (never an inherited property). */
export function own(obj: unknown, key: string): any {
  return isObject(obj) && Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

export function hasOwn(obj: unknown, key: string): boolean {
  return isObject(obj) && Object.hasOwn(obj, key);
}

/** Defines `obj[key] = value` as an own data property (no setter, no prototype change). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  refuseKey(key, 'a field name');
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

export function refuseKey(key: string, what: string): void {
  if (key === FORBIDDEN_KEY) throw badRequest(`${what} may not be "${FORBIDDEN_KEY}"`);
}

/**
 * Checks a decoded request body before anything walks it: no `__proto__` key at any depth, and
 * no deeper nesting than `maxDepth` (400, as kube-apiserver answers a body its decoder refuses).
 * Iterative, so a hostile depth cannot overflow the stack here.
 */
export function checkDecoded(value: unknown, maxDepth = MAX_BODY_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (!isObject(node)) continue;
    if (depth > maxDepth) throw badRequest(`the request body could not be decoded: exceeded max depth of ${maxDepth}`);
    if (Array.isArray(node)) {
      for (const item of node) stack.push([item, depth + 1]);
      continue;
    }
    for (const key of Object.keys(node)) {
      if (key === FORBIDDEN_KEY) throw badRequest(`the request body could not be decoded: the field name "${FORBIDDEN_KEY}" is not accepted`);
      stack.push([node[key], depth + 1]);
    }
  }
}
