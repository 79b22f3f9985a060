/**
 * A region's gateway Pods as the autoscaler sees them, and the two writes it makes to them:
 * `controller.kubernetes.io/pod-deletion-cost` before a scale-down (the ReplicaSet removes the
 * lowest cost first), and the instruction to shed connections (rebalancing).
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { FIELD_MANAGER, type RegionClient } from '../types.ts';
import { callRegion } from '../reconcile/apply.ts';
import { selectorLabels } from '../reconcile/render.ts';
import { podProxy, type ProxyAnswer } from './pod-proxy.ts';

export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** pod-deletion-cost is an int32. */
const MAX_DELETION_COST = 2_147_483_647;
/** The gateway's header for the API key on this path (gateway/http-api.ts API_KEY_HEADER). */
export const API_KEY_HEADER = 'x-meridian-api-key';

export interface GatewayPod {
  name: string;
  uid: string;
  ready: boolean;
  /** Terminating: its clients are leaving and will reconnect elsewhere. */
  deleting: boolean;
  /** Has an address the proxy can reach. */
  running: boolean;
  deletionCost?: number;
}

/** Where one cluster's gateways run in one region. */
export interface GatewayTarget {
  clusterName: string;
  hubNamespace: string;
  namespace: string;
}

function toGatewayPod(object: KubernetesObject): GatewayPod {
  const pod = object as V1Pod;
  const cost = Number(pod.metadata?.annotations?.[DELETION_COST_ANNOTATION]);
  return {
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    running: pod.status?.phase === 'Running' && Boolean(pod.status.podIP),
    ...(Number.isFinite(cost) && pod.metadata?.annotations?.[DELETION_COST_ANNOTATION] !== undefined ? { deletionCost: cost } : {}),
  };
}

/** The gateway Pods of a cluster in a region, from the region's cache, else one list. */
export async function listGatewayPods(client: RegionClient, target: GatewayTarget, timeoutMs: number): Promise<GatewayPod[]> {
  const labels = selectorLabels(target);
  const cached = client.cachedList?.({ apiVersion: 'v1', kind: 'Pod', namespace: target.namespace }, labels);
  if (cached) return cached.map(toGatewayPod);
  const selector = Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(',');
  const list = await callRegion(client, (signal) => client.kube.list('v1', 'Pod', { namespace: target.namespace, labelSelector: selector, signal }), timeoutMs);
  return list.items.map(toGatewayPod);
}

export function deletionCost(connections: number): number {
  return Math.min(MAX_DELETION_COST, Math.max(0, Math.round(connections)));
}

/** Sets each pod's deletion cost (a merge patch of one annotation), skipping pods that already carry it. Returns how many were written. */
export async function writeDeletionCosts(client: RegionClient, namespace: string, pods: GatewayPod[], costs: Map<string, number>, timeoutMs: number): Promise<number> {
  let written = 0;
  for (const pod of pods) {
    const cost = costs.get(pod.name);
    if (cost === undefined || pod.deleting || pod.deletionCost === cost) continue;
    const body = { metadata: { annotations: { [DELETION_COST_ANNOTATION]: String(cost) } } };
    const patched = await callRegion(
      client,
      (signal) => client.kube.patch({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.name, namespace } }, body, 'merge', { fieldManager: FIELD_MANAGER, signal }),
      timeoutMs,
    );
    client.wrote({ ...patched, apiVersion: 'v1', kind: 'Pod' });
    written += 1;
  }
  return written;
}

export interface ShedOrder {
  targetConnections: number;
  perMinute: number;
  ttlMs: number;
}

/** Tells a pod to shed down to `targetConnections` (gateway POST /v1/admin/shed, behind the API key). */
export function sendShedOrder(client: RegionClient, namespace: string, pod: string, apiKey: string, order: ShedOrder, timeoutMs: number): Promise<ProxyAnswer> {
  return podProxy(client, { namespace, pod, path: 'v1/admin/shed', method: 'POST', headers: { [API_KEY_HEADER]: apiKey }, body: order, timeoutMs });
}

/** Tells a pod where its clients go when it drains (gateway POST /v1/admin/reconnect-targets, behind the API key). */
export function sendReconnectTargets(client: RegionClient, namespace: string, pod: string, apiKey: string, endpoints: string[], timeoutMs: number): Promise<ProxyAnswer> {
  return podProxy(client, { namespace, pod, path: 'v1/admin/reconnect-targets', method: 'POST', headers: { [API_KEY_HEADER]: apiKey }, body: { endpoints }, timeoutMs });
}
