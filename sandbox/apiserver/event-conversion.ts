/**
 * core/v1 Events and events.k8s.io/v1 Events are one resource in kube-apiserver, stored in the
 * core form and converted per request (pkg/apis/events/v1/conversion.go): `regarding` is
 * `involvedObject`, `note` is `message`, `reportingController` is `reportingComponent`, and the
 * `deprecated*` fields are `source`, `firstTimestamp`, `lastTimestamp` and `count`.
 */
import type { KubeObject } from './registry.ts';

/** events.k8s.io/v1 name → core/v1 name; fields with the same name in both are copied as they are. */
const RENAMED: Array<[string, string]> = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function rename(obj: KubeObject, pairs: Array<[string, string]>): KubeObject {
  const out: KubeObject = { ...obj };
  for (const [from, to] of pairs) {
    delete out[from];
    if (obj[from] !== undefined) out[to] = obj[from];
  }
  return out;
}

/** An events.k8s.io/v1 Event in the stored (core/v1) form. */
export function eventToCore(obj: KubeObject): KubeObject {
  return rename(obj, RENAMED);
}

/** A stored (core/v1) Event as events.k8s.io/v1 shows it. */
export function eventFromCore(obj: KubeObject): KubeObject {
  return { ...rename(obj, RENAMED.map(([a, b]) => [b, a])), apiVersion: 'events.k8s.io/v1' };
}
