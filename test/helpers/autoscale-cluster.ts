/**
 * For autoscaling scenarios: a hub and two regions on the process runner (every gateway Pod a
 * real `meridian gateway` process), one real redis-server per region, and the operator's
 * Controller with its autoscaler running in this process, with timings shrunk so that load
 * periods and windows take seconds. Clients are real WebSocket clients on the Pods' ports.
 */
import assert from 'node:assert/strict';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { GROUP, PLURAL, VERSION, type RealtimeCluster, type RealtimeClusterSpec } from '../../crds/types.ts';
import { Controller } from '../../operator/controller.ts';
import { createEventRecorder } from '../../operator/events.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { createOperatorMetrics } from '../../operator/metrics.ts';
import { createReconciler, type ReconcilerOptions } from '../../operator/reconcile/index.ts';
import { processRunner, startApiServer, PORT_ANNOTATION, type ApiServerHandle, type ProcessRunner } from '../../sandbox/apiserver/index.ts';
import { ALL_KINDS, base64Values, clusterSpec, HUB_NAMESPACE, prepareHubNamespace, REGIONS, type RegionName } from '../operator-reconcile-harness.ts';
import { realtimeClusterCrdModel } from '../../crds/crd.ts';
import { ApiextensionsV1Api, CustomObjectsApi, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { signToken, TestClient } from './gateway.ts';
import { waitFor } from './net.ts';
import { startRedis, type RedisServer } from './services.ts';

export const JWT_SECRET = 'test-jwt-secret';
export const API_KEY = 'test-api-key';

export interface AutoscaleRegion {
  server: ApiServerHandle;
  runner: ProcessRunner;
  kc: KubeConfig;
  redis: RedisServer;
}

export interface AutoscaleCluster {
  hub: ApiServerHandle;
  hubConfig: KubeConfig;
  regions: Record<RegionName, AutoscaleRegion>;
  controller: Controller;
  metrics: ReturnType<typeof createOperatorMetrics>;
  close(): Promise<void>;
}

export interface AutoscaleOptions {
  loadPeriodMs: number;
  reconciler?: ReconcilerOptions;
  probeIntervalMs?: number;
}

function kubeConfigOf(server: ApiServerHandle): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(server.kubeconfig());
  return config;
}

export async function startAutoscaleCluster(options: AutoscaleOptions): Promise<AutoscaleCluster> {
  const hub = await startApiServer({ port: 0, name: 'hub', readyDelayMs: 20 });
  const regions = {} as Record<RegionName, AutoscaleRegion>;
  for (const name of REGIONS) {
    const runner = processRunner({ probeTimeScale: 0.1, restartBackoffMs: 300, restartBackoffMaxMs: 2000 });
    const server = await startApiServer({ port: 0, name, readyDelayMs: 20, podRunner: runner });
    regions[name] = { server, runner, kc: kubeConfigOf(server), redis: await startRedis() };
  }
  const hubConfig = kubeConfigOf(hub);
  await hubConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
  await prepareHubNamespace(hubConfig, { 'us-east1': regions['us-east1'].server, 'europe-west1': regions['europe-west1'].server }, HUB_NAMESPACE);
  // Real Redis URLs: each region's pods share their region's Redis, as in production.
  await hubConfig.makeApiClient(CoreV1Api).replaceNamespacedSecret({
    name: 'redis',
    namespace: HUB_NAMESPACE,
    body: { metadata: { name: 'redis' }, data: base64Values(Object.fromEntries(REGIONS.map((r) => [r, regions[r].redis.url]))) },
  });

  const logger = pino({ level: process.env.MERIDIAN_TEST_LOG ?? 'silent' });
  const metrics = createOperatorMetrics({ processMetrics: false });
  const hubClient = KubeClient.fromString(hub.kubeconfig());
  const events = createEventRecorder(hubClient, { logger });
  const controller = new Controller({
    hub: hubClient,
    workers: 2,
    resyncIntervalMs: 3_600_000,
    regions: { probeIntervalMs: options.probeIntervalMs ?? 300, failureThreshold: 2, unknownAfterMs: 1500, probeTimeoutMs: 500 },
    logger,
    metrics,
    autoscaling: { periodMs: options.loadPeriodMs, readTimeoutMs: 2000 },
    createReconciler: (pool, hooks, caches, runtime) =>
      createReconciler({ hub: hubClient, regions: pool, events, logger, metrics: hooks, ...caches, autoscaler: runtime.autoscaler, options: { preStopPauseSeconds: 1, drainWindowSeconds: 2, regionCallTimeoutMs: 2000, unreachableRecheckMs: 500, progressRecheckMs: 300, ...options.reconciler } }),
  });
  await controller.start();
  return {
    hub,
    hubConfig,
    regions,
    controller,
    metrics,
    async close() {
      await controller.stop();
      await hubClient.close();
      await Promise.all([hub.close(), ...REGIONS.map((r) => regions[r].server.close())]);
      await Promise.all(REGIONS.map((r) => regions[r].redis.stop()));
    },
  };
}

/** A spec with tiny targets: `us` and `eu` are per-region bounds. */
export function autoscaleSpec(autoscaling: NonNullable<RealtimeClusterSpec['autoscaling']>, us: { min: number; max: number }, eu: { min: number; max: number }): RealtimeClusterSpec {
  const base = clusterSpec();
  return {
    ...base,
    autoscaling,
    regions: base.regions.map((r) => ({ ...r, ...(r.name === 'us-east1' ? { minReplicas: us.min, maxReplicas: us.max } : { minReplicas: eu.min, maxReplicas: eu.max }) })),
  };
}

export async function createRtc(cluster: AutoscaleCluster, name: string, spec: RealtimeClusterSpec): Promise<void> {
  await cluster.hubConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: HUB_NAMESPACE,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RealtimeCluster', metadata: { name, namespace: HUB_NAMESPACE }, spec },
  });
}

export async function readRtc(cluster: AutoscaleCluster, name: string): Promise<RealtimeCluster> {
  return (await cluster.hubConfig.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name })) as RealtimeCluster;
}

export async function gatewayDeployment(cluster: AutoscaleCluster, region: RegionName, name: string): Promise<V1Deployment> {
  return cluster.regions[region].kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: `${name}-gateway`, namespace: 'meridian' });
}

export async function gatewayPods(cluster: AutoscaleCluster, region: RegionName, name: string): Promise<V1Pod[]> {
  return (await cluster.regions[region].kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'meridian', labelSelector: `app.kubernetes.io/instance=${name}` })).items;
}

const API_VERSIONS: Record<string, string> = { Deployment: 'apps/v1', PodDisruptionBudget: 'policy/v1' };

/**
 * The cluster's objects in one region by kind/name → uid (and its gateway Pods too with
 * `pods`): a scenario compares two of these to show objects were kept, not recreated.
 */
export async function regionObjectUids(cluster: AutoscaleCluster, region: RegionName, name: string, { pods = false } = {}): Promise<Map<string, string>> {
  const api = KubernetesObjectApi.makeApiClient(cluster.regions[region].kc);
  const found = new Map<string, string>();
  for (const kind of pods ? [...ALL_KINDS, 'Pod'] : ALL_KINDS) {
    const selector = kind === 'Pod' ? `app.kubernetes.io/instance=${name}` : `meridian.dev/cluster=${HUB_NAMESPACE}.${name}`;
    const list = await api.list<KubernetesObject>(API_VERSIONS[kind] ?? 'v1', kind, 'meridian', undefined, undefined, undefined, undefined, selector);
    for (const item of list.items) found.set(`${kind}/${item.metadata!.name}`, item.metadata!.uid!);
  }
  return found;
}

export function ready(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** Waits until the region has exactly `count` Ready gateway pods and nothing terminating. */
export async function readyGatewayPods(cluster: AutoscaleCluster, region: RegionName, name: string, count: number, timeoutMs = 180_000): Promise<V1Pod[]> {
  return waitFor(
    async () => {
      const pods = await gatewayPods(cluster, region, name);
      return pods.length === count && pods.every(ready) ? pods : undefined;
    },
    { what: `${count} Ready gateway pods in ${region}`, timeoutMs, intervalMs: 100 },
  );
}

export function portOf(pod: V1Pod): number {
  const port = Number(pod.metadata?.annotations?.[PORT_ANNOTATION]);
  assert.ok(port > 0, `pod ${pod.metadata?.name} has a port`);
  return port;
}

/** A subscribed client of one pod that remembers its position in the room, to recover elsewhere. */
export class RoomClient {
  client: TestClient;
  readonly user: string;
  readonly room: string;
  epoch = '';
  offset = 0;
  /** Every offset received, across reconnects. */
  readonly offsets = new Set<number>();
  /** Close codes of every connection this client had. */
  readonly closes: number[] = [];
  /** Endpoints of every `reconnect` push received (planned maintenance). */
  readonly reconnects: string[][] = [];

  private constructor(client: TestClient, user: string, room: string) {
    this.client = client;
    this.user = user;
    this.room = room;
  }

  static async open(port: number, user: string, room: string): Promise<RoomClient> {
    const client = await TestClient.connected(`ws://127.0.0.1:${port}/v1/ws`, await signToken(user, { secret: JWT_SECRET }));
    const room_ = new RoomClient(client, user, room);
    await room_.subscribe();
    return room_;
  }

  private track(): void {
    const client = this.client;
    client.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.op === 'message' && frame.room === this.room) {
        this.offsets.add(frame.offset);
        this.epoch = frame.epoch;
        this.offset = Math.max(this.offset, frame.offset);
      }
      // Before its close: record it first, so that a close seen means the push was seen (if sent).
      if (frame.op === 'reconnect') this.reconnects.push(frame.endpoints);
    });
    void client.closed.then(({ code }) => this.closes.push(code));
  }

  private async subscribe(): Promise<void> {
    this.track();
    const recover = this.epoch ? { recover: { epoch: this.epoch, offset: this.offset } } : {};
    const reply = await this.client.request({ op: 'subscribe', room: this.room, ...recover });
    assert.equal(reply.op, 'subscribed', JSON.stringify(reply));
    if (this.epoch) assert.equal(reply.recovered, true, `recovered on reconnect: ${JSON.stringify(reply)}`);
    for (const message of reply.messages ?? []) this.offsets.add(message.offset);
    this.epoch = reply.epoch;
    this.offset = Math.max(this.offset, reply.offset);
  }

  /** Reconnects to `port` and resubscribes with recover from the last position seen. */
  async reconnect(port: number): Promise<void> {
    this.client = await TestClient.connected(`ws://127.0.0.1:${port}/v1/ws`, await signToken(this.user, { secret: JWT_SECRET }));
    await this.subscribe();
  }

  get open(): boolean {
    return this.client.ws.readyState === this.client.ws.OPEN;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Publishes through a pod's server API; returns the offset. */
export async function publish(port: number, room: string, text: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ room, data: { text } }),
  });
  const body = (await response.json()) as { offset: number };
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.offset;
}

/** Merge-patches the RealtimeCluster (a user's edit). */
export async function patchRtc(cluster: AutoscaleCluster, name: string, patch: Record<string, unknown>): Promise<void> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await cluster.hubConfig.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name, body: patch },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
