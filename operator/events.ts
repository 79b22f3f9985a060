/**
 * Event reasons (constants) and the recorder that writes them as core/v1 Events in the hub, next
 * to the RealtimeCluster they are about. A repeated event (same object, type, reason, message)
 * bumps `count` and `lastTimestamp` on the existing Event instead of creating another, as
 * kubectl's event correlation does.
 */
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './kube/client.ts';
import type { Logger } from 'pino';
import { FIELD_MANAGER, type EventRecorder } from './types.ts';
import { isNotFound } from './errors.ts';

export const EventReason = {
  /** Objects were written to a region (created, changed, or repaired after drift). */
  Applied: 'Applied',
  /** A region stopped answering; it is Unknown and nothing is deleted because of it. */
  RegionUnreachable: 'RegionUnreachable',
  /** A region that was Unknown answers again. */
  RegionRecovered: 'RegionRecovered',
  /** The spec breaks a rule the schema cannot express, or references a missing Secret. */
  InvalidSpec: 'InvalidSpec',
  /** A region's client cannot be built (its kubeconfig Secret is missing or invalid). */
  RegionMisconfigured: 'RegionMisconfigured',
  /** A region's objects were removed after the RealtimeCluster was deleted. */
  CleanedUp: 'CleanedUp',
  /** Deletion waits: a region is unreachable and keeps the finalizer until it answers or is abandoned. */
  CleanupBlocked: 'CleanupBlocked',
  /** An SRE gave up on a region through the abandon annotation: its objects are left behind. */
  RegionAbandoned: 'RegionAbandoned',
  /** spec.paused became true: nothing is written to regions until it is false again. */
  Paused: 'Paused',
  /** spec.paused became false. */
  Resumed: 'Resumed',
  /** The relay's topic or subscriptions were created, updated or deleted (lists them). */
  RelayApplied: 'RelayApplied',
  /** RelayReady became False, or its reason changed (Pub/Sub error, a conflict a person must fix). */
  RelayFailed: 'RelayFailed',
  /** RelayReady is True again. */
  RelayRecovered: 'RelayRecovered',
  /** A deleted cluster's topic and subscriptions were deleted. */
  RelayCleanedUp: 'RelayCleanedUp',
  /** Deletion left the relay topology behind through the abandon-relay annotation. */
  RelayAbandoned: 'RelayAbandoned',
  /** The autoscaler raised a region's replicas (message: from, to, why). */
  ScaledUp: 'ScaledUp',
  /** The autoscaler lowered a region's replicas after setting pod-deletion-costs (the emptiest pods go). */
  ScaledDown: 'ScaledDown',
  /** The autoscaler holds a region's replicas for a new reason (stale load, drain share limit, paused, …). */
  ScalingHeld: 'ScalingHeld',
  /** A region failed: the others raised their floors by its last known connections. */
  FailoverCapacityRaised: 'FailoverCapacityRaised',
  /** A failed region is healthy again; floors return after the stabilization period. */
  FailoverRecovering: 'FailoverRecovering',
  /** A failed region stayed healthy for the stabilization period: the others' floors returned. */
  FailoverCapacityReturned: 'FailoverCapacityReturned',
  /** Pods above their share were told to shed connections (1012) so that new pods take load. */
  Rebalancing: 'Rebalancing',
  /** Planned maintenance: the other regions' floors rise; waiting for them to be Ready. */
  MaintenanceRaisingCapacity: 'MaintenanceRaisingCapacity',
  /** Planned maintenance: the region's gateways drain (clients closed with 1012). */
  MaintenanceDraining: 'MaintenanceDraining',
  /** Planned maintenance: the region is at zero pods, its objects kept. */
  InMaintenance: 'InMaintenance',
  /** Planned maintenance off: the region's pods return, then the others' floors. */
  MaintenanceRestoring: 'MaintenanceRestoring',
  /** Planned maintenance is over: the region serves and the others' floors returned. */
  MaintenanceComplete: 'MaintenanceComplete',
} as const;

/** The Event recorded when a region's maintenance reaches each step. */
export const MAINTENANCE_EVENTS = Object.freeze({
  RaisingCapacity: EventReason.MaintenanceRaisingCapacity,
  Draining: EventReason.MaintenanceDraining,
  InMaintenance: EventReason.InMaintenance,
  Restoring: EventReason.MaintenanceRestoring,
  Complete: EventReason.MaintenanceComplete,
} as const);
export type EventReasonName = (typeof EventReason)[keyof typeof EventReason];

export interface EventRecorderOptions {
  /** `source.component` and `reportingController` of every Event. */
  component?: string;
  /** Identity of this operator process (`reportingInstance`). */
  instance?: string;
  /** How many distinct events are remembered for de-duplication (oldest forgotten first). */
  maxTracked?: number;
  /** Messages are cut to this many characters (the API server rejects very long ones). */
  maxMessageLength?: number;
  now?: () => Date;
  logger?: Logger;
}

interface Tracked {
  namespace: string;
  name: string;
  count: number;
}

/**
 * Writes Events in the hub. Recording never fails the caller: an Event that cannot be written
 * is logged (reason, not message) and dropped, since Events are best-effort in Kubernetes too.
 */
export function createEventRecorder(hub: KubeClient, options: EventRecorderOptions = {}): EventRecorder {
  const { component = FIELD_MANAGER, instance = `${component}-${process.pid}`, maxTracked = 4096, maxMessageLength = 1024, now = () => new Date(), logger } = options;
  const tracked = new Map<string, Tracked>();

  const remember = (key: string, value: Tracked) => {
    tracked.delete(key);
    tracked.set(key, value);
    if (tracked.size > maxTracked) tracked.delete(tracked.keys().next().value as string);
  };

  async function create(object: KubernetesObject, type: string, reason: string, message: string, key: string): Promise<void> {
    const namespace = object.metadata?.namespace ?? 'default';
    const name = `${object.metadata?.name ?? 'unknown'}.${randomBytes(8).toString('hex')}`;
    const time = now().toISOString();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata?.name,
        namespace: object.metadata?.namespace,
        uid: object.metadata?.uid,
        resourceVersion: object.metadata?.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component },
      reportingComponent: component,
      reportingInstance: instance,
    };
    await hub.create(event, { fieldManager: FIELD_MANAGER });
    remember(key, { namespace, name, count: 1 });
  }

  return {
    async record(object, type, reason, rawMessage) {
      const message = rawMessage.length > maxMessageLength ? `${rawMessage.slice(0, maxMessageLength - 1)}…` : rawMessage;
      const key = [object.metadata?.uid ?? `${object.metadata?.namespace}/${object.metadata?.name}`, type, reason, message].join('\u0000');
      try {
        const seen = tracked.get(key);
        if (!seen) {
          await create(object, type, reason, message, key);
          return;
        }
        const count = seen.count + 1;
        try {
          const header = { apiVersion: 'v1', kind: 'Event', metadata: { name: seen.name, namespace: seen.namespace } };
          await hub.patch(header, { count, lastTimestamp: now().toISOString() }, 'merge', { fieldManager: FIELD_MANAGER });
          remember(key, { ...seen, count });
        } catch (error) {
          // Events expire (an hour by default): start a new one.
          if (!isNotFound(error)) throw error;
          await create(object, type, reason, message, key);
        }
      } catch (error) {
        logger?.warn({ reason, type, object: `${object.metadata?.namespace}/${object.metadata?.name}`, err: error instanceof Error ? error.message : String(error) }, 'event not recorded');
      }
    },
  };
}
