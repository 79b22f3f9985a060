/**
 * Label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==, !=),
 * parsed once per request into predicates. Bad syntax is a 400 BadRequest, as in kube-apiserver.
 */
import { badRequest } from './errors.ts';
import { own, hasOwn, refuseKey } from './own.ts';
import type { KubeObject } from './registry.ts';

/** A label's value, or undefined when the object has no such label (never an inherited property). */
const label = (o: KubeObject, key: string): string | undefined => own(own(o.metadata, 'labels'), key);
const hasLabel = (o: KubeObject, key: string): boolean => hasOwn(own(o.metadata, 'labels'), key);

export type Predicate = (obj: KubeObject) => boolean;

const always: Predicate = () => true;

/** Splits on commas that are not inside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

function requireKey(key: string, selector: string): string {
  refuseKey(key, 'a label selector key');
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

export function parseLabelSelector(selector: string | null | undefined): Predicate {
  if (!selector) return always;
  const checks: Predicate[] = terms(selector).map((term) => {
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) {
      const key = requireKey(m[1], selector);
      const values = new Set(m[3].split(',').map((v) => v.trim()).filter(Boolean));
      return m[2] === 'in'
        ? (o) => hasLabel(o, key) && values.has(label(o, key)!)
        : (o) => !hasLabel(o, key) || !values.has(label(o, key)!);
    }
    m = /^([^!=\s]+)\s*(==|=|!=)\s*([^=\s]*)$/.exec(term);
    if (m) {
      const key = requireKey(m[1], selector);
      const value = m[3];
      return m[2] === '!=' ? (o) => label(o, key) !== value : (o) => label(o, key) === value;
    }
    m = /^(!?)\s*([^!=\s()]+)$/.exec(term);
    if (m) {
      const key = requireKey(m[2], selector);
      return m[1] ? (o) => !hasLabel(o, key) : (o) => hasLabel(o, key);
    }
    throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
  });
  return (o) => checks.every((check) => check(o));
}

/** Field labels a kind supports beyond metadata.name and metadata.namespace. */
const extraFields: Record<string, string[]> = {
  Pod: ['status.phase', 'spec.nodeName', 'spec.serviceAccountName'],
  Secret: ['type'],
  Event: ['involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.uid', 'reason', 'type', 'source', 'regarding.kind', 'regarding.name'],
  Namespace: ['status.phase'],
};

/** Field selectors are evaluated on the stored form; events.k8s.io's `regarding` is core's `involvedObject`. */
function fieldValue(obj: KubeObject, path: string): string {
  let value: any = obj;
  const stored = path.startsWith('regarding.') && !own(obj, 'regarding') ? `involvedObject.${path.slice('regarding.'.length)}` : path;
  for (const part of stored.split('.')) value = own(value, part);
  return value === undefined || value === null ? '' : String(value);
}

export function parseFieldSelector(selector: string | null | undefined, kind: string): Predicate {
  if (!selector) return always;
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(extraFields[kind] ?? [])]);
  const checks: Predicate[] = terms(selector).map((term) => {
    const m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field, op, value] = m;
    if (!allowed.has(field)) throw badRequest(`field label not supported: ${field}`);
    return op === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value;
  });
  return (o) => checks.every((check) => check(o));
}

/** A matchLabels/matchExpressions LabelSelector object, as Deployments and PDBs carry. */
export function selectorObjectToPredicate(selector: KubeObject | undefined): Predicate {
  if (!selector) return () => false;
  const checks: Predicate[] = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => (o) => label(o, k) === v);
  for (const expr of (selector.matchExpressions ?? []) as KubeObject[]) {
    const values = new Set<string>(expr.values ?? []);
    const key = expr.key as string;
    if (expr.operator === 'In') checks.push((o) => hasLabel(o, key) && values.has(label(o, key)!));
    else if (expr.operator === 'NotIn') checks.push((o) => !hasLabel(o, key) || !values.has(label(o, key)!));
    else if (expr.operator === 'Exists') checks.push((o) => hasLabel(o, key));
    else if (expr.operator === 'DoesNotExist') checks.push((o) => !hasLabel(o, key));
  }
  return (o) => checks.every((check) => check(o));
}

/** `app=web,tier=edge` — the string form of matchLabels (status.selector for /scale). */
export function selectorToString(selector: KubeObject | undefined): string {
  return Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}
