/**
 * Renders one region's objects for a RealtimeCluster, in memory, with cdk8s. Pure: the same
 * plan always renders the same objects (the applier relies on that to skip no-op writes).
 */
import { createHash } from 'node:crypto';
import { ApiObject, App, Chart } from 'cdk8s';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { deepFreeze } from '../../lib/deep-freeze.ts';
import { CLUSTER_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, clusterLabelValue } from '../types.ts';

/** On a Namespace the operator created: the CLUSTER_LABEL value of its creator. Others' namespaces are never written or deleted. */
export const CREATED_BY_ANNOTATION = 'realtime.meridian.dev/created-by';
/** On every applied object: a hash of what was rendered, so a changed rendering is re-applied even when only a field was dropped. */
export const APPLIED_HASH_ANNOTATION = 'realtime.meridian.dev/applied-hash';
/** On the pod template: a hash of the configuration and secrets, so pods roll when either changes. */
export const CONFIG_HASH_ANNOTATION = 'realtime.meridian.dev/config-hash';

export const CONFIG_FILE = 'gateway.yaml';
/** The gateway's metrics listener in its pod (gateway `metrics.port`); scraped through the pod IP, not the Service. */
export const GATEWAY_METRICS_PORT = 9091;
export const CONFIG_DIR = '/etc/meridian';
export const PUBSUB_CREDENTIALS_DIR = '/var/run/meridian/pubsub';

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

/** Defaults when the spec names no resources: enough for a few thousand idle connections. */
export const DEFAULT_RESOURCES: ResourceRequirements = { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } };

export interface EnvFromSecret {
  name: string;
  /** Key in the region's gateway Secret. */
  key: string;
}

/** Everything the renderer needs for one region, already resolved and validated. */
export interface RegionPlan {
  clusterName: string;
  hubNamespace: string;
  region: string;
  namespace: string;
  replicas: number;
  image: string;
  imagePullPolicy?: string;
  /** The gateway's HTTP and WebSocket port (probes, Service). */
  port: number;
  resources: ResourceRequirements;
  /** Written as gateway.yaml in the ConfigMap. */
  gatewayConfig: Record<string, unknown>;
  env: Array<{ name: string; value: string }>;
  /** Base64 values copied from the hub's Secrets, keyed by the region Secret's keys. */
  secretData: Record<string, string>;
  secretEnv: EnvFromSecret[];
  /** Key in secretData holding Pub/Sub service-account JSON, mounted as a file. */
  pubsubCredentialsKey?: string;
  preStopPauseSeconds: number;
  /** The gateway's drain deadline (drain.deadlineMs in its config). */
  drainWindowSeconds: number;
}

/** Seconds between the gateway's drain deadline and SIGKILL: time to flush and exit. */
export const TERMINATION_MARGIN_SECONDS = 5;

export interface ObjectNames {
  gateway: string;
  config: string;
  secret: string;
}

export function objectNames(clusterName: string): ObjectNames {
  return { gateway: `${clusterName}-gateway`, config: `${clusterName}-gateway-config`, secret: `${clusterName}-gateway-secrets` };
}

/** Labels on pods; immutable Deployment selectors use these, so they never change for a cluster. */
export function selectorLabels(plan: Pick<RegionPlan, 'clusterName' | 'hubNamespace'>): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'meridian-gateway',
    'app.kubernetes.io/instance': plan.clusterName,
    [CLUSTER_LABEL]: clusterLabelValue(plan.hubNamespace, plan.clusterName),
  };
}

export function commonLabels(plan: Pick<RegionPlan, 'clusterName' | 'hubNamespace'>): Record<string, string> {
  return {
    ...selectorLabels(plan),
    'app.kubernetes.io/component': 'gateway',
    [MANAGED_BY_LABEL]: FIELD_MANAGER,
    'app.kubernetes.io/part-of': 'meridian',
  };
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

/** The region's objects in apply order (Namespace first, Deployment after what it mounts). */
export function renderRegion(plan: RegionPlan): KubernetesObject[] {
  const app = new App();
  const chart = new Chart(app, 'region');
  const labels = commonLabels(plan);
  const names = objectNames(plan.clusterName);
  const meta = (name: string) => ({ name, namespace: plan.namespace, labels });
  const configYaml = stringify(plan.gatewayConfig, { sortMapEntries: true });
  const configHash = hashOf({ configYaml, secretData: plan.secretData });

  // Rendered always; the applier writes it only when absent or created by this cluster.
  new ApiObject(chart, 'namespace', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: plan.namespace, labels, annotations: { [CREATED_BY_ANNOTATION]: clusterLabelValue(plan.hubNamespace, plan.clusterName) } },
  });
  new ApiObject(chart, 'service-account', {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(names.gateway),
    automountServiceAccountToken: false,
  });
  new ApiObject(chart, 'config', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(names.config),
    data: { [CONFIG_FILE]: configYaml },
  });
  new ApiObject(chart, 'secret', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(names.secret),
    type: 'Opaque',
    data: plan.secretData,
  });
  new ApiObject(chart, 'deployment', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(names.gateway),
    spec: deploymentSpec(plan, names, configHash),
  });
  new ApiObject(chart, 'service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(names.gateway),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(plan),
      ports: [{ name: 'http', port: plan.port, targetPort: 'http', protocol: 'TCP' }],
    },
  });
  new ApiObject(chart, 'pdb', {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(names.gateway),
    // One pod at a time: node drains move connections gradually instead of all at once.
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(plan) } },
  });

  return (chart.toJson() as KubernetesObject[]).map((object) => withAppliedHash(object));
}

/**
 * renderRegion with each region's last rendering kept: a reconcile whose plan has not changed (a
 * resync, a status or load-round update, a Deployment event) reuses it instead of rendering
 * again. Rendering (cdk8s synthesis, the config's YAML, the hashes) was most of what a converged
 * operator allocated — at 100 clusters × 3 regions, 20–37 young-generation collections a second —
 * and that allocation rate kept V8's memory reducer from ever returning the ~30–40 MiB of heap
 * pages it pools after the convergence burst (docs/operator-runtime.md, "Memory"). The objects
 * are frozen: the applier reads them only. One entry per cluster and region, dropped by forget()
 * when the cluster is finalized.
 */
export class RegionRenderer {
  readonly #last = new Map<string, { plan: string; objects: readonly KubernetesObject[] }>();

  render(plan: RegionPlan): readonly KubernetesObject[] {
    const key = regionKey(plan.hubNamespace, plan.clusterName, plan.region);
    const identity = JSON.stringify(plan);
    const last = this.#last.get(key);
    if (last?.plan === identity) return last.objects;
    const objects = deepFreeze(renderRegion(plan));
    this.#last.set(key, { plan: identity, objects });
    return objects;
  }

  /** Drops every region's rendering of one cluster. */
  forget(hubNamespace: string, clusterName: string): void {
    const prefix = regionKey(hubNamespace, clusterName, '');
    for (const key of this.#last.keys()) if (key.startsWith(prefix)) this.#last.delete(key);
  }

  /** Regions whose rendering is kept. */
  get size(): number {
    return this.#last.size;
  }
}

/** NUL cannot occur in a namespace, name or region: the parts cannot run into each other. */
function regionKey(hubNamespace: string, clusterName: string, region: string): string {
  return `${hubNamespace}\0${clusterName}\0${region}`;
}

function withAppliedHash(object: KubernetesObject): KubernetesObject {
  const hash = hashOf(object);
  const metadata = object.metadata ?? {};
  return { ...object, metadata: { ...metadata, annotations: { ...metadata.annotations, [APPLIED_HASH_ANNOTATION]: hash } } };
}

function deploymentSpec(plan: RegionPlan, names: ObjectNames, configHash: string): Record<string, unknown> {
  const selector = selectorLabels(plan);
  const volumes: Record<string, unknown>[] = [
    { name: 'config', configMap: { name: names.config } },
    // The root filesystem is read-only; Node and the gateway may still need a scratch directory.
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  const volumeMounts: Record<string, unknown>[] = [
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const env: Record<string, unknown>[] = [
    { name: 'MERIDIAN_PORT', value: String(plan.port) },
    { name: 'MERIDIAN_REGION', value: plan.region },
    { name: 'MERIDIAN_NODE', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ...plan.env,
    ...plan.secretEnv.map(({ name, key }) => ({ name, valueFrom: { secretKeyRef: { name: names.secret, key } } })),
  ];
  if (plan.pubsubCredentialsKey) {
    volumes.push({
      name: 'pubsub-credentials',
      secret: { secretName: names.secret, items: [{ key: plan.pubsubCredentialsKey, path: 'credentials.json' }] },
    });
    volumeMounts.push({ name: 'pubsub-credentials', mountPath: PUBSUB_CREDENTIALS_DIR, readOnly: true });
    env.push({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: `${PUBSUB_CREDENTIALS_DIR}/credentials.json` });
  }
  return {
    // The seam for autoscaling: `replicas` is whatever the plan chose (today: the spec's minimum).
    replicas: plan.replicas,
    selector: { matchLabels: selector },
    // Never take a serving pod away before its replacement is ready.
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: {
      metadata: {
        labels: commonLabels(plan),
        annotations: {
          [CONFIG_HASH_ANNOTATION]: configHash,
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(GATEWAY_METRICS_PORT),
          'prometheus.io/path': '/metrics',
        },
      },
      spec: {
        serviceAccountName: names.gateway,
        automountServiceAccountToken: false,
        // preStop pause (endpoints stop routing to the pod) + drain window (clients get 1012 and
        // reconnect) + a margin to exit before SIGKILL.
        terminationGracePeriodSeconds: plan.preStopPauseSeconds + plan.drainWindowSeconds + TERMINATION_MARGIN_SECONDS,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } },
          { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } },
        ],
        containers: [
          {
            name: 'gateway',
            image: plan.image,
            ...(plan.imagePullPolicy ? { imagePullPolicy: plan.imagePullPolicy } : {}),
            command: ['meridian', 'gateway', '--config', `${CONFIG_DIR}/${CONFIG_FILE}`],
            ports: [
              { name: 'http', containerPort: plan.port, protocol: 'TCP' },
              { name: 'metrics', containerPort: GATEWAY_METRICS_PORT, protocol: 'TCP' },
            ],
            env,
            resources: plan.resources,
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
            lifecycle: { preStop: { sleep: { seconds: plan.preStopPauseSeconds } } },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts,
          },
        ],
        volumes,
      },
    },
  };
}
