/**
 * Events the built-in controllers record (core/v1), so `kubectl describe` and
 * `kubectl get events` show what the emulator did. Reasons are named constants.
 */
import { randomBytes } from 'node:crypto';
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
      metadata: { name: `${involved.metadata.name}.${randomBytes(8).toString('hex')}` },
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
