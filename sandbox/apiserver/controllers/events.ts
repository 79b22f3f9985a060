/**
 * Events the built-in controllers record (core/v1), so `kubectl describe` and
 * `kubectl get events` show what the emulator did. Reasons are named constants.
 */
import type { KubeObject, Registry } from '../registry.ts';
import type { Resources } from '../resources.ts';
import { timestamp } from '../time.ts';

export const EventReasons = {
  scalingReplicaSet: 'ScalingReplicaSet',
  successfulCreate: 'SuccessfulCreate',
  successfulDelete: 'SuccessfulDelete',
  failedCreate: 'FailedCreate',
  noPods: 'NoPods',
} as const;

export function recordEvent(registry: Registry, resources: Resources, involved: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, component: string, now: Date): void {
  const eventType = registry.find('', 'v1', 'events');
  if (!eventType) return;
  const at = timestamp(now);
  resources.create(
    eventType,
    involved.metadata.namespace ?? 'default',
    {
      metadata: { name: eventName(involved.metadata.name, now) },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        namespace: involved.metadata.namespace,
        uid: involved.metadata.uid,
        resourceVersion: involved.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      source: { component },
      reportingComponent: component,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    },
    { fieldManager: component },
  );
}

/**
 * `<object>.<hex of the time in nanoseconds>`, as client-go's recorder names events, so a list
 * (sorted by name) shows each object's events in time order. The clock has milliseconds; the
 * sub-millisecond digits come from the high-resolution clock so that two events of one object
 * in the same millisecond still get distinct, increasing names.
 */
function eventName(object: string, at: Date): string {
  const nanos = BigInt(at.getTime()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  return `${object}.${nanos.toString(16)}`;
}
