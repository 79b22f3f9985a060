/**
 * Where the dashboard reads from, behind one narrow interface: RealtimeClusters and their Events
 * from the hub API, each region's gateway Pods from the region's API (through the kubeconfig
 * Secret the cluster names, or the hub itself), each Pod's metrics listener through pods/proxy
 * (`<pod>:metrics`), and the operator's own registry. Nothing here writes.
 */
import type { CoreV1Event, V1Pod, V1Secret } from '@kubernetes/client-node';
import { KubeClient } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import { proxyPath } from '../autoscale/pod-proxy.ts';
import type { Registry } from 'prom-client';
import type { RealtimeCluster, RegionSpec } from '../../crds/types.ts';
import { API_VERSION, KIND } from '../../crds/types.ts';
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
  if (error instanceof KubeApiError) return `HTTP ${error.statusCode}`;
  return (error instanceof Error ? error.message : String(error)).split('\n')[0].slice(0, 200);
}

export function kubeSources(hub: KubeClient, registry: Registry, namespace?: string): DashboardSources {
  /** Region clients by Secret and its resourceVersion: a changed kubeconfig makes a new client. */
  const regions = new Map<string, { version: string; core: KubeClient }>();
  const regionCore = async (cluster: RealtimeCluster, region: RegionSpec): Promise<KubeClient> => {
    const ref = region.kubeconfigSecretRef;
    if (!ref) return hub;
    const ns = cluster.metadata.namespace ?? 'default';
    const secret = await within(hub.read<V1Secret>({ apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ns } }), `Secret ${ns}/${ref.name}`);
    const key = `${ns}/${ref.name}#${ref.key}`;
    const version = secret.metadata?.resourceVersion ?? '';
    const cached = regions.get(key);
    if (cached && cached.version === version) return cached.core;
    const data = secret.data?.[ref.key];
    if (!data) throw new Error(`Secret ${ns}/${ref.name} has no key ${ref.key}`);
    // Inline credentials only, as for the region pool (operator/regions.ts).
    const core = KubeClient.fromString(Buffer.from(data, 'base64').toString('utf8'), { inlineOnly: true });
    void cached?.core.close();
    regions.set(key, { version, core });
    return core;
  };
  const selector = (cluster: RealtimeCluster) => `app.kubernetes.io/instance=${cluster.metadata.name},app.kubernetes.io/component=gateway`;

  return {
    async listClusters() {
      const list = await within(hub.list<RealtimeCluster>(API_VERSION, KIND, { namespace }), 'RealtimeClusters');
      return list.items;
    },
    async clusterEvents(cluster) {
      const ns = cluster.metadata.namespace ?? 'default';
      const list = await within(hub.list<CoreV1Event>('v1', 'Event', { namespace: ns, fieldSelector: `involvedObject.name=${cluster.metadata.name}` }), 'Events');
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
        const pods = await within(core.list<V1Pod>('v1', 'Pod', { namespace: region.namespace ?? 'meridian', labelSelector: selector(cluster) }), `pods in ${region.name}`);
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
        const text = await within(core.requestText('GET', proxyPath(region.namespace ?? 'meridian', `${pod}:metrics`, 'metrics'), { timeoutMs: CALL_TIMEOUT_MS }), `metrics of ${pod}`);
        return parsePrometheusText(text);
      } catch (error) {
        throw new Error(message(error), { cause: error });
      }
    },
    async operatorMetrics() {
      return parsePrometheusText(await registry.metrics());
    },
  };
}
