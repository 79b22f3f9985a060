/**
 * What `meridian start` writes to the hub: the RealtimeCluster CRD, the Secrets its sample
 * cluster refers to (JWT secret and API key, each region's kubeconfig and Redis URL), and the
 * sample RealtimeCluster spanning both regions. Every write is a server-side apply with the
 * field manager `meridian-start`, so a restart with the same state directory updates what
 * changed (ports, tokens) and keeps everything else.
 */
import { request } from 'node:https';
import { parse } from 'yaml';
import { realtimeClusterCrd } from '../../crds/crd.ts';
import type { RealtimeCluster } from '../../crds/types.ts';

export const FIELD_MANAGER = 'meridian-start';
export const HUB_NAMESPACE = 'default';
export const CLUSTER_NAME = 'classrooms';
export const REGION_NAMESPACE = 'meridian';
export const RELAY_TOPIC = 'meridian-classrooms';

export interface RegionSetup {
  name: string;
  kubeconfig: string;
  /** redis://127.0.0.1:P, or undefined for the memory engine (one pod). */
  redisUrl?: string;
}

export interface ClusterSetup {
  jwtSecret: string;
  apiKey: string;
  regions: RegionSetup[];
  /** 127.0.0.1:P of the Pub/Sub emulator, or undefined: no relay. */
  pubsubHost?: string;
  pubsubProject: string;
}

/** The server URL and token of an emulator's kubeconfig. */
export function kubeconfigTarget(kubeconfig: string): { server: string; token: string } {
  const config = parse(kubeconfig) as { clusters: Array<{ cluster: { server: string } }>; users: Array<{ user: { token: string } }> };
  return { server: config.clusters[0].cluster.server, token: config.users[0].user.token };
}

/** One API request with the emulator's token (its certificate is self-signed: not verified). */
export function apiRequest(kubeconfig: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const { server, token } = kubeconfigTarget(kubeconfig);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server), {
      method,
      rejectUnauthorized: false,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}) },
      timeout: 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: kept as text for the error message.
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Server-side apply of one object at `path` (its name included). */
export async function apply(kubeconfig: string, path: string, object: object): Promise<any> {
  const response = await apiRequest(kubeconfig, 'PATCH', `${path}?fieldManager=${FIELD_MANAGER}&force=true`, object, 'application/apply-patch+yaml');
  if (response.status >= 300) throw new Error(`apply ${path}: ${response.status} ${typeof response.body === 'object' ? response.body.message : response.body}`);
  return response.body;
}

function secret(name: string, data: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: HUB_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

/** The sample cluster: both regions, Redis when there is one, the relay when there is a bus, offline AI. */
export function sampleCluster(setup: ClusterSetup): RealtimeCluster {
  const redis = setup.regions.every((region) => region.redisUrl);
  return {
    apiVersion: 'realtime.meridian.dev/v1alpha1',
    kind: 'RealtimeCluster',
    metadata: { name: CLUSTER_NAME, namespace: HUB_NAMESPACE },
    spec: {
      gateway: {
        image: 'meridian:local',
        auth: { jwtSecretRef: { name: 'meridian-auth', key: 'jwt-secret' } },
        apiKeySecretRef: { name: 'meridian-auth', key: 'api-key' },
        // The sandbox does not enforce resources; small requests keep the rendering honest.
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      },
      // Redis makes a region's pods one server; the memory engine allows one pod.
      autoscaling: redis ? { minReplicas: 2, maxReplicas: 4 } : { minReplicas: 1, maxReplicas: 1 },
      ...(setup.pubsubHost ? { relay: { pubsub: { projectId: setup.pubsubProject, topic: RELAY_TOPIC, emulatorHost: setup.pubsubHost } } } : {}),
      regions: setup.regions.map((region) => ({
        name: region.name,
        namespace: REGION_NAMESPACE,
        kubeconfigSecretRef: { name: `region-${region.name}`, key: 'kubeconfig' },
        ...(region.redisUrl ? { redis: { urlSecretRef: { name: `redis-${region.name}`, key: 'url' } } } : {}),
      })),
      // The offline provider only: no keys, no cost, and room sentiment for the dashboard.
      ai: { strategy: 'cost', dailyBudgetUsd: 5, providers: [{ name: 'local' }], sentiment: { rooms: ['*'] } },
    },
  };
}

/** Writes the CRD and the Secrets to the hub, or (`cluster`) the sample cluster. */
export async function applyPlatform(hubKubeconfig: string, setup: ClusterSetup, what: { cluster: boolean }): Promise<void> {
  if (what.cluster) {
    await apply(hubKubeconfig, `/apis/realtime.meridian.dev/v1alpha1/namespaces/${HUB_NAMESPACE}/realtimeclusters/${CLUSTER_NAME}`, sampleCluster(setup));
    return;
  }
  const crd = realtimeClusterCrd();
  await apply(hubKubeconfig, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, crd);
  const secrets = [
    secret('meridian-auth', { 'jwt-secret': setup.jwtSecret, 'api-key': setup.apiKey }),
    ...setup.regions.map((region) => secret(`region-${region.name}`, { kubeconfig: region.kubeconfig })),
    ...setup.regions.filter((region) => region.redisUrl).map((region) => secret(`redis-${region.name}`, { url: region.redisUrl! })),
  ];
  await Promise.all(secrets.map((s) => apply(hubKubeconfig, `/api/v1/namespaces/${HUB_NAMESPACE}/secrets/${s.metadata.name}`, s)));
}

/** The cluster's status as the hub has it (undefined until it exists). */
export async function clusterStatus(hubKubeconfig: string): Promise<RealtimeCluster['status'] | undefined> {
  const response = await apiRequest(hubKubeconfig, 'GET', `/apis/realtime.meridian.dev/v1alpha1/namespaces/${HUB_NAMESPACE}/realtimeclusters/${CLUSTER_NAME}`);
  return response.status === 200 ? (response.body as RealtimeCluster).status : undefined;
}
