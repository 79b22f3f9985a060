/**
 * Where the dashboard reads from, behind one narrow interface: RealtimeClusters and their Events
 * from the hub API, each region's gateway Pods from the region's API (through the kubeconfig
 * Secret the cluster names, or the hub itself), each Pod's metrics listener through pods/proxy
 * (`<pod>:metrics`), and the operator's own registry. Nothing here writes.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { SharedAgentKubeConfig } from '../kube-config.ts';
import type { Registry } from 'prom-client';
import type { RealtimeCluster, RegionSpec } from '../../crds/types.ts';
import { GROUP, PLURAL, VERSION } from '../../crds/types.ts';
import { parsePrometheusText, type Samples } from './prom-text.ts';

export interface PodSummary {
  name: string;
  ready: boolean;
  phase: string;
  restarts: number;
  deleting: boolean;
}

export interface ClusterEvent {
  type: string;
  reason: string;
  message: string;
  time: string;
}

export interface DashboardSources {
  listClusters(): Promise<RealtimeCluster[]>;
  clusterEvents(cluster: RealtimeCluster): Promise<ClusterEvent[]>;
  /** Throws when the region does not answer. */
  regionPods(cluster: RealtimeCluster, region: RegionSpec): Promise<PodSummary[]>;
  /** The Pod's Prometheus text; throws when it does not answer. */
  podMetrics(cluster: RealtimeCluster, region: RegionSpec, pod: string): Promise<Samples>;
  operatorMetrics(): Promise<Samples>;
}

/** Every call gives up after this long: an unreachable region must not stall a sample. */
const CALL_TIMEOUT_MS = 3000;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
    }),
  ]);
}

function message(error: unknown): string {
  const e = error as { code?: number; message?: string; body?: unknown };
  return e.code ? `HTTP ${e.code}` : (e.message ?? String(error)).split('\n')[0].slice(0, 200);
}

export function kubeSources(hub: KubeConfig, registry: Registry, namespace?: string): DashboardSources {
  const hubCore = hub.makeApiClient(CoreV1Api);
  const custom = hub.makeApiClient(CustomObjectsApi);
  /** Region clients by Secret and its resourceVersion: a changed kubeconfig makes a new client. */
  const regions = new Map<string, { version: string; core: CoreV1Api }>();
  const regionCore = async (cluster: RealtimeCluster, region: RegionSpec): Promise<CoreV1Api> => {
    const ref = region.kubeconfigSecretRef;
    if (!ref) return hubCore;
    const ns = cluster.metadata.namespace ?? 'default';
    const secret = await within(hubCore.readNamespacedSecret({ name: ref.name, namespace: ns }), `Secret ${ns}/${ref.name}`);
    const key = `${ns}/${ref.name}#${ref.key}`;
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = regions.get(key);
    if (cached && cached.version === version) return cached.core;
    const data = secret.data?.[ref.key];
    if (!data) throw new Error(`Secret ${ns}/${ref.name} has no key ${ref.key}`);
    const config = new SharedAgentKubeConfig();
    config.loadFromString(Buffer.from(data, 'base64').toString('utf8'));
    const core = config.makeApiClient(CoreV1Api);
    regions.set(key, { version, core });
    return core;
  };
  const selector = (cluster: RealtimeCluster) => `app.kubernetes.io/instance=${cluster.metadata.name},app.kubernetes.io/component=gateway`;

  return {
    async listClusters() {
      const list = (await within(
        namespace
          ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })
          : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }),
        'RealtimeClusters',
      )) as { items: RealtimeCluster[] };
      return list.items;
    },
    async clusterEvents(cluster) {
      const ns = cluster.metadata.namespace ?? 'default';
      const list = await within(hubCore.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${cluster.metadata.name}` }), 'Events');
      return list.items.map((e) => ({
        type: e.type ?? '',
        reason: e.reason ?? '',
        message: e.message ?? '',
        time: new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).toISOString(),
      }));
    },
    async regionPods(cluster, region) {
      try {
        const core = await regionCore(cluster, region);
        const pods = await within(core.listNamespacedPod({ namespace: region.namespace ?? 'meridian', labelSelector: selector(cluster) }), `pods in ${region.name}`);
        return pods.items.map((pod: V1Pod) => ({
          name: pod.metadata?.name ?? '',
          ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          phase: pod.status?.phase ?? 'Unknown',
          restarts: pod.status?.containerStatuses?.[0]?.restartCount ?? 0,
          deleting: Boolean(pod.metadata?.deletionTimestamp),
        }));
      } catch (error) {
        throw new Error(message(error), { cause: error });
      }
    },
    async podMetrics(cluster, region, pod) {
      try {
        const core = await regionCore(cluster, region);
        const text = await within(core.connectGetNamespacedPodProxyWithPath({ name: `${pod}:metrics`, namespace: region.namespace ?? 'meridian', path: 'metrics' }), `metrics of ${pod}`);
        return parsePrometheusText(String(text));
      } catch (error) {
        throw new Error(message(error), { cause: error });
      }
    },
    async operatorMetrics() {
      return parsePrometheusText(await registry.metrics());
    },
  };
}
