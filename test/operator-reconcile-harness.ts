/**
 * A sandbox for reconcile scenarios: a hub and two region API emulators on loopback, the
 * RealtimeCluster CRD in the hub, region kubeconfigs and gateway Secrets in the hub namespace,
 * and a reconciler wired to the real RegionPool and Event recorder.
 */
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type CoreV1Event,
  type KubernetesObject,
  type V1Deployment,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { realtimeClusterCrdModel } from '../crds/crd.ts';
import { GROUP, PLURAL, VERSION, type RealtimeCluster, type RealtimeClusterSpec } from '../crds/types.ts';
import { createEventRecorder } from '../operator/events.ts';
import { createReconciler, type ReconcilerOptions } from '../operator/reconcile/index.ts';
import { KubeClient } from '../operator/kube/client.ts';
import { KubeconfigRegionPool } from '../operator/regions.ts';
import type { EventRecorder, Reconciler, ReconcileResult } from '../operator/types.ts';
import { startApiServer, type ApiServerOptions } from '../sandbox/apiserver/index.ts';
import { waitFor } from './helpers/net.ts';

export const HUB_NAMESPACE = 'tenants';
export const REGIONS = ['us-east1', 'europe-west1'] as const;
export type RegionName = (typeof REGIONS)[number];

type ApiServer = Awaited<ReturnType<typeof startApiServer>>;

export interface Sandbox {
  hub: ApiServer;
  regions: Record<RegionName, ApiServer>;
  /** client-node, for the test's own setup and checks. */
  hubConfig: KubeConfig;
  /** The operator's client of the hub, which the reconciler uses. */
  hubClient: KubeClient;
  regionConfigs: Record<RegionName, KubeConfig>;
  reconciler: Reconciler;
  pool: KubeconfigRegionPool;
  /** The reconciler's Event recorder (it de-duplicates in memory: share it to share that). */
  events: EventRecorder;
  close(): Promise<void>;
}

function kubeConfigOf(server: ApiServer): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(server.kubeconfig());
  return config;
}

/** `regionServer`: options of the regions' API emulators (e.g. `kubelet: 'process'` to run real gateways). */
export async function startSandbox(options: ReconcilerOptions = {}, regionServer: ApiServerOptions = {}): Promise<Sandbox> {
  const hub = await startApiServer({ port: 0, name: 'hub', readyDelayMs: 20 });
  const regions = {
    'us-east1': await startApiServer({ port: 0, name: 'us-east1', readyDelayMs: 20, ...regionServer }),
    'europe-west1': await startApiServer({ port: 0, name: 'europe-west1', readyDelayMs: 20, ...regionServer }),
  };
  const hubConfig = kubeConfigOf(hub);
  const regionConfigs = { 'us-east1': kubeConfigOf(regions['us-east1']), 'europe-west1': kubeConfigOf(regions['europe-west1']) };

  await hubConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
  await prepareHubNamespace(hubConfig, regions, HUB_NAMESPACE);

  const logger = pino({ level: 'silent' });
  const hubClient = KubeClient.fromString(hub.kubeconfig());
  const pool = new KubeconfigRegionPool({ hub: hubClient, logger });
  const events = createEventRecorder(hubClient, { logger });
  const reconciler = createReconciler({ hub: hubClient, regions: pool, events, logger, options });
  return {
    hub,
    regions,
    hubConfig,
    hubClient,
    regionConfigs,
    reconciler,
    pool,
    events,
    async close() {
      await pool.stop();
      await hubClient.close();
      await Promise.all([hub.close(), ...Object.values(regions).map((r) => r.close())]);
    },
  };
}

/** Secret `data`: base64 values, as an API server stores them (the operator never reads stringData). */
export function base64Values(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}

/** Creates a hub namespace holding the Secrets clusterSpec() refers to. */
export async function prepareHubNamespace(hubConfig: KubeConfig, regions: Record<RegionName, ApiServer>, namespace: string): Promise<void> {
  const core = hubConfig.makeApiClient(CoreV1Api);
  await waitFor(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    return true;
  }, { what: `hub namespace ${namespace}` });
  const secret = (name: string, data: Record<string, string>) => core.createNamespacedSecret({ namespace, body: { metadata: { name }, data: base64Values(data) } });
  await secret('auth', { 'jwt-secret': 'test-jwt-secret', 'api-key': 'test-api-key' });
  await secret('redis', { 'us-east1': 'redis://redis.us-east1:6379', 'europe-west1': 'redis://redis.europe-west1:6379' });
  for (const name of REGIONS) await secret(`region-${name}`, { kubeconfig: regions[name].kubeconfig() });
}

export function clusterSpec(overrides: Partial<RealtimeClusterSpec> = {}): RealtimeClusterSpec {
  return {
    gateway: { image: 'meridian:0.1.0', auth: { jwtSecretRef: { name: 'auth', key: 'jwt-secret' } }, apiKeySecretRef: { name: 'auth', key: 'api-key' } },
    autoscaling: { minReplicas: 2, maxReplicas: 4 },
    regions: REGIONS.map((name) => ({
      name,
      kubeconfigSecretRef: { name: `region-${name}`, key: 'kubeconfig' },
      redis: { urlSecretRef: { name: 'redis', key: name } },
    })),
    ...overrides,
  };
}

export function customObjects(sandbox: Sandbox): CustomObjectsApi {
  return sandbox.hubConfig.makeApiClient(CustomObjectsApi);
}

export async function createCluster(sandbox: Sandbox, name: string, spec: RealtimeClusterSpec, namespace = HUB_NAMESPACE): Promise<string> {
  await customObjects(sandbox).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RealtimeCluster', metadata: { name, namespace }, spec },
  });
  return `${namespace}/${name}`;
}

export async function getCluster(sandbox: Sandbox, name: string, namespace = HUB_NAMESPACE): Promise<RealtimeCluster | undefined> {
  try {
    return (await customObjects(sandbox).getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as RealtimeCluster;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Merge-patches the cluster's metadata/spec (a user's edit). */
export async function patchCluster(sandbox: Sandbox, name: string, patch: Record<string, unknown>): Promise<void> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await customObjects(sandbox).patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name, body: patch },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function deleteCluster(sandbox: Sandbox, name: string): Promise<void> {
  await customObjects(sandbox).deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name });
}

/** Reconciles until `done` holds for the cluster, tolerating retryable errors on the way. */
export async function reconcileUntil(
  sandbox: Sandbox,
  key: string,
  done: (cluster: RealtimeCluster | undefined, result: ReconcileResult) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<RealtimeCluster | undefined> {
  const [namespace, name] = key.split('/');
  let last: RealtimeCluster | undefined;
  await waitFor(
    async () => {
      // A retryable error (the work queue would back off) is thrown into waitFor, which keeps it as the cause and tries again.
      const result = await sandbox.reconciler.reconcile(key);
      last = await getCluster(sandbox, name, namespace);
      return done(last, result);
    },
    { what, timeoutMs, intervalMs: 50 },
  );
  return last;
}

export async function regionDeployment(sandbox: Sandbox, region: RegionName, name: string, namespace = 'meridian'): Promise<V1Deployment | undefined> {
  try {
    return await sandbox.regionConfigs[region].makeApiClient(AppsV1Api).readNamespacedDeployment({ name: `${name}-gateway`, namespace });
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Kinds of the cluster's objects in a region, found by label. */
export async function regionKinds(sandbox: Sandbox, region: RegionName, name: string, namespace = 'meridian'): Promise<string[]> {
  const { KubernetesObjectApi } = await import('@kubernetes/client-node');
  const api = KubernetesObjectApi.makeApiClient(sandbox.regionConfigs[region]);
  const selector = `meridian.dev/cluster=${HUB_NAMESPACE}.${name}`;
  const kinds: string[] = [];
  for (const [apiVersion, kind] of [
    ['v1', 'ServiceAccount'],
    ['v1', 'ConfigMap'],
    ['v1', 'Secret'],
    ['apps/v1', 'Deployment'],
    ['v1', 'Service'],
    ['policy/v1', 'PodDisruptionBudget'],
  ]) {
    const list = await api.list<KubernetesObject>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, selector);
    if (list.items.length > 0) kinds.push(kind);
  }
  return kinds;
}

export async function clusterEvents(sandbox: Sandbox, name: string): Promise<CoreV1Event[]> {
  const list = await sandbox.hubConfig.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: HUB_NAMESPACE });
  return list.items.filter((event) => event.involvedObject.name === name);
}

/** Writes made to every emulator so far. */
export function writeCounts(sandbox: Sandbox): Record<string, number> {
  return {
    hub: sandbox.hub.requestCount({ writesOnly: true }),
    'us-east1': sandbox.regions['us-east1'].requestCount({ writesOnly: true }),
    'europe-west1': sandbox.regions['europe-west1'].requestCount({ writesOnly: true }),
  };
}

export const ALL_KINDS = ['ServiceAccount', 'ConfigMap', 'Secret', 'Deployment', 'Service', 'PodDisruptionBudget'];
