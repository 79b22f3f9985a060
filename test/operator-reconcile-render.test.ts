import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { applyWaves, holds, upToDate } from '../operator/reconcile/apply.ts';
import { APPLIED_HASH_ANNOTATION, CONFIG_HASH_ANNOTATION, RegionRenderer, renderRegion, type RegionPlan } from '../operator/reconcile/render.ts';
import { CLUSTER_LABEL } from '../operator/types.ts';

function plan(overrides: Partial<RegionPlan> = {}): RegionPlan {
  return {
    clusterName: 'classroom',
    hubNamespace: 'tenants',
    region: 'us-east1',
    namespace: 'meridian',
    replicas: 2,
    image: 'meridian/gateway:1.0.0',
    port: 8080,
    resources: { requests: { cpu: '250m', memory: '256Mi' } },
    gatewayConfig: { port: 8080, region: 'us-east1' },
    env: [{ name: 'PUBSUB_EMULATOR_HOST', value: '127.0.0.1:8085' }],
    secretData: { 'jwt-secret': Buffer.from('s3cret').toString('base64') },
    secretEnv: [{ name: 'MERIDIAN_JWT_SECRET', key: 'jwt-secret' }],
    preStopPauseSeconds: 5,
    drainWindowSeconds: 30,
    ...overrides,
  };
}

function find(objects: KubernetesObject[], kind: string): Record<string, any> {
  const found = objects.find((o) => o.kind === kind);
  assert.ok(found, `${kind} rendered`);
  return found as Record<string, any>;
}

test('a region renders namespace, service account, config, secret, deployment, service and PDB, all labelled with the owning cluster', () => {
  const objects = renderRegion(plan());
  assert.deepEqual(objects.map((o) => o.kind), ['Namespace', 'ServiceAccount', 'ConfigMap', 'Secret', 'Deployment', 'Service', 'PodDisruptionBudget']);
  for (const object of objects) {
    assert.equal(object.metadata?.labels?.[CLUSTER_LABEL], 'tenants.classroom', `${object.kind} carries the cluster label`);
    assert.equal(object.metadata?.labels?.['app.kubernetes.io/managed-by'], 'meridian-operator');
    assert.ok(object.metadata?.annotations?.[APPLIED_HASH_ANNOTATION], `${object.kind} carries its rendering hash`);
  }
});

test('the gateway deployment probes /readyz and /healthz, pauses before stopping, and drains within its grace period', () => {
  const deployment = find(renderRegion(plan({ preStopPauseSeconds: 7, drainWindowSeconds: 45 })), 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(deployment.spec.replicas, 2);
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.equal(container.lifecycle.preStop.sleep.seconds, 7);
  assert.equal(pod.terminationGracePeriodSeconds, 7 + 45 + 5, 'pause + drain + exit margin');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(container.command, ['meridian', 'gateway', '--config', '/etc/meridian/gateway.yaml']);
  assert.equal(pod.topologySpreadConstraints.length, 2);
  const jwt = container.env.find((e: { name: string }) => e.name === 'MERIDIAN_JWT_SECRET');
  assert.deepEqual(jwt.valueFrom.secretKeyRef, { name: 'classroom-gateway-secrets', key: 'jwt-secret' });
});

test('rendering is deterministic, and a changed secret rolls the pods through the config hash', () => {
  const first = renderRegion(plan());
  assert.deepEqual(renderRegion(plan()), first);
  const rotated = renderRegion(plan({ secretData: { 'jwt-secret': Buffer.from('rotated').toString('base64') } }));
  const hash = (objects: KubernetesObject[]) => find(objects, 'Deployment').spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
  assert.notEqual(hash(rotated), hash(first));
});

test('the renderer reuses a region\'s rendering while its plan is unchanged, renders again when it changes, and forgets a finalized cluster', () => {
  const renderer = new RegionRenderer();
  const first = renderer.render(plan());
  assert.deepEqual(first, renderRegion(plan()), 'the same objects as a fresh rendering');
  assert.equal(renderer.render(plan()), first, 'an equal plan (a new object) reuses the rendering');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first[0].metadata), 'shared objects are frozen');
  assert.throws(() => {
    (first[0].metadata as { name: string }).name = 'changed';
  }, TypeError);
  const scaled = renderer.render(plan({ replicas: 3 }));
  assert.notEqual(scaled, first);
  assert.equal(find([...scaled], 'Deployment').spec.replicas, 3);
  renderer.render(plan({ region: 'europe-west1' }));
  renderer.render(plan({ clusterName: 'other' }));
  assert.equal(renderer.size, 3, 'one entry per cluster and region');
  renderer.forget('tenants', 'classroom');
  assert.equal(renderer.size, 1, 'both regions of the finalized cluster are dropped, the other cluster kept');
});

test('an object is up to date only when its hash matches and every rendered field holds in the live object', () => {
  const deployment = find(renderRegion(plan()), 'Deployment') as KubernetesObject;
  const live = structuredClone(deployment) as Record<string, any>;
  live.metadata.uid = 'u1';
  live.status = { readyReplicas: 2 };
  live.spec.template.spec.containers[0].terminationMessagePath = '/dev/termination-log';
  assert.equal(upToDate(live as KubernetesObject, deployment), true, 'server-added fields are ignored');
  live.spec.template.spec.containers[0].image = 'evil/gateway:latest';
  assert.equal(upToDate(live as KubernetesObject, deployment), false, 'an edited image is drift');
  const dropped = structuredClone(deployment) as Record<string, any>;
  delete dropped.metadata.annotations[APPLIED_HASH_ANNOTATION];
  assert.equal(upToDate(dropped as KubernetesObject, deployment), false, 'no hash: re-apply');
  assert.equal(holds([1, 2], [1]), false, 'lists must have the same length');
  const canonical = structuredClone(deployment) as Record<string, any>;
  canonical.spec.template.spec.containers[0].resources = { requests: { cpu: '250m', memory: '256Mi' } };
  const spelled = structuredClone(deployment) as Record<string, any>;
  spelled.spec.template.spec.containers[0].resources = { requests: { cpu: '0.25', memory: '262144Ki' } };
  assert.equal(holds(canonical, spelled), true, 'the API server\'s canonical quantities are the same amounts');
  spelled.spec.template.spec.containers[0].resources.requests.cpu = '0.3';
  assert.equal(holds(canonical, spelled), false, 'a different amount is drift');
});

test('the rendered gateway.yaml and environment are accepted by the gateway configuration parser', async () => {
  const { resolveConfig } = await import('../gateway/config.ts');
  const { parse } = await import('yaml');
  const { gatewayConfig } = await import('../operator/reconcile/desired.ts');
  const cluster = {
    apiVersion: 'realtime.meridian.dev/v1alpha1' as const,
    kind: 'RealtimeCluster' as const,
    metadata: { name: 'classroom', namespace: 'tenants' },
    spec: {
      gateway: { image: 'meridian:1', maxConnectionsPerPod: 5000, limits: { messagesPerSecond: 20 }, history: { ttlSeconds: 120 }, auth: { jwksUrl: 'https://auth.example/jwks.json' } },
      relay: { pubsub: { projectId: 'learning' } },
      regions: [{ name: 'us-east1' }],
    },
  };
  const objects = renderRegion(plan({ gatewayConfig: gatewayConfig(cluster, cluster.spec.regions[0], 8080, { drainWindowSeconds: 30 }) }));
  const file = parse(find(objects, 'ConfigMap').data['gateway.yaml']);
  const env = Object.fromEntries(
    (find(objects, 'Deployment').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value ?? 'from-a-secret']),
  );
  delete env.MERIDIAN_JWT_SECRET; // jwksUrl is used here; secret and JWKS are exclusive
  const config = resolveConfig(file, env);
  assert.equal(config.region, 'us-east1');
  assert.equal(config.limits.maxConnections, 5000);
  assert.equal(config.limits.publishRatePerSec, 20);
  assert.equal(config.history.ttlMs, 120_000);
  assert.equal(config.jwt.jwksUrl, 'https://auth.example/jwks.json');
  assert.equal(config.relay.pubsub.projectId, 'learning');
  assert.equal(config.relay.pubsub.topic, 'meridian-tenants-classroom');
  assert.ok(config.drain.windowMs <= config.drain.deadlineMs);
  assert.equal(config.drain.deadlineMs, 30_000);
  // Metrics: their own listener, facing the pod network, named and annotated for scrapers.
  assert.deepEqual(config.metrics, { host: '0.0.0.0', port: 9091 });
  const pod = find(objects, 'Deployment').spec.template;
  assert.ok(pod.spec.containers[0].ports.some((p: { name: string; containerPort: number }) => p.name === 'metrics' && p.containerPort === config.metrics.port));
  assert.equal(pod.metadata.annotations['prometheus.io/port'], String(config.metrics.port));
});

test('a region whose Redis secret names a Redis Cluster renders it as MERIDIAN_REDIS_URL, and the gateway accepts it', async () => {
  const { resolveConfig } = await import('../gateway/config.ts');
  const { planCluster } = await import('../operator/reconcile/desired.ts');
  const clusterUrl = 'redis+cluster://:pw@redis-0.redis:6379,redis-1.redis:6379,redis-2.redis:6379';
  const cluster = {
    apiVersion: 'realtime.meridian.dev/v1alpha1' as const,
    kind: 'RealtimeCluster' as const,
    metadata: { name: 'classroom', namespace: 'tenants' },
    spec: {
      gateway: { image: 'meridian:1', auth: { jwksUrl: 'https://auth.example/jwks.json' } },
      regions: [{ name: 'us-east1', redis: { urlSecretRef: { name: 'redis', key: 'url' } } }],
    },
  };
  const readSecret = async (namespace: string, name: string) =>
    namespace === 'tenants' && name === 'redis' ? { metadata: { name }, data: { url: Buffer.from(clusterUrl).toString('base64') } } : undefined;
  const planned = await planCluster(readSecret, cluster, { preStopPauseSeconds: 5, drainWindowSeconds: 30, chooseReplicas: (_c, _r, bounds) => bounds.min });
  assert.deepEqual(planned.problems, []);
  const objects = renderRegion(planned.regions[0].plan);
  const secret = find(objects, 'Secret');
  const container = find(objects, 'Deployment').spec.template.spec.containers[0];
  const redisEnv = (container.env as Array<{ name: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }>).find((e) => e.name === 'MERIDIAN_REDIS_URL');
  assert.equal(redisEnv?.valueFrom?.secretKeyRef.name, secret.metadata.name);
  const rendered = Buffer.from(secret.data[redisEnv!.valueFrom!.secretKeyRef.key], 'base64').toString();
  assert.equal(rendered, clusterUrl, 'the cluster URL reaches the region unchanged');
  const env: Record<string, string> = { MERIDIAN_REDIS_URL: rendered };
  assert.equal(resolveConfig({}, env).redisUrl, clusterUrl);
});

test('a region is applied in three waves: the Namespace alone, then what the Deployment needs and the rest at once, then the Deployment', () => {
  const objects = renderRegion(plan());
  const waves = applyWaves(objects).map((wave) => wave.map((o) => o.kind).sort());
  assert.deepEqual(waves, [['Namespace'], ['ConfigMap', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount'], ['Deployment']]);
  // Only what is to be written is passed: a pass that writes the Deployment alone is one wave.
  assert.deepEqual(applyWaves(objects.filter((o) => o.kind === 'Deployment' || o.kind === 'ConfigMap')).map((wave) => wave.map((o) => o.kind)), [['ConfigMap'], ['Deployment']]);
});
