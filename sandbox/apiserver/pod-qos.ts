/**
 * What kube-apiserver puts in a new Pod's status: phase `Pending` and the QoS class, computed as
 * upstream's GetPodQOS does from the cpu and memory of every container and init container
 * (requests left out default to the limits, as the API's defaulting makes them):
 * Guaranteed when every container limits both and requests equal limits, BestEffort when no
 * container asks for either, Burstable otherwise.
 */
import { quantityValue } from '../../lib/quantity.ts';
import type { KubeObject } from './registry.ts';

const QOS_RESOURCES = ['cpu', 'memory'] as const;

export function podQosClass(spec: KubeObject | undefined): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  const containers: KubeObject[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  for (const container of containers) {
    const limited = new Set<string>();
    for (const name of QOS_RESOURCES) {
      const limit = amount(container.resources?.limits?.[name]);
      const request = amount(container.resources?.requests?.[name]) ?? limit;
      if (request !== undefined && request > 0) requests.set(name, (requests.get(name) ?? 0) + request);
      if (limit !== undefined && limit > 0) {
        limited.add(name);
        limits.set(name, (limits.get(name) ?? 0) + limit);
      }
    }
    if (limited.size < QOS_RESOURCES.length) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed && requests.size === limits.size && [...requests].every(([name, value]) => limits.get(name) === value)) return 'Guaranteed';
  return 'Burstable';
}

function amount(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  return typeof value === 'string' ? quantityValue(value) : undefined;
}

export function initialPodStatus(pod: KubeObject): KubeObject {
  return { phase: 'Pending', qosClass: podQosClass(pod.spec) };
}
