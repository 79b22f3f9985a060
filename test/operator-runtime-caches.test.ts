/**
 * The controller reads through its caches: a resync of a converged cluster makes no request at
 * all, in the hub or in any region, counted by the API emulators themselves. Every write the
 * operator makes names its field manager. A region that was never written to (its kubeconfig
 * Secret mistyped) is owed no cleanup: removed from the spec, it does not hold up deletion.
 *
 * The controller runs in this process with its region probe and watch timeouts set far beyond
 * the scenario, so that the only requests a resync could cause are the reconciler's own.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesObjectApi, type KubernetesObject, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { DEFAULTS } from '../crds/schema.ts';
import { pino } from 'pino';
import { GROUP, PLURAL, VERSION, type RealtimeCluster } from '../crds/types.ts';
import { Controller } from '../operator/controller.ts';
import { createEventRecorder } from '../operator/events.ts';
import { createOperatorMetrics } from '../operator/metrics.ts';
import { createReconciler } from '../operator/reconcile/index.ts';
import { FIELD_MANAGER } from '../operator/types.ts';
import { CACHED_RESOURCES } from '../operator/region-cache.ts';
import { REGIONS, clusterSpec, createCluster, customObjects, deleteCluster, getCluster, patchCluster, prepareHubNamespace, regionKinds, startSandbox, type Sandbox } from './operator-reconcile-harness.ts';
import { waitFor } from './helpers/net.ts';

let sandbox: Sandbox;
let controller: Controller;
let metrics: ReturnType<typeof createOperatorMetrics>;
const HOUR_MS = 3_600_000;

before(async () => {
  sandbox = await startSandbox();
  await sandbox.pool.stop(); // the harness's own pool is not used: the controller builds its own
  const logger = pino({ level: process.env.MERIDIAN_TEST_LOG ?? 'silent' });
  metrics = createOperatorMetrics({ processMetrics: false });
  const events = createEventRecorder(sandbox.hubClient, { logger });
  controller = new Controller({
    hub: sandbox.hubClient,
    workers: 2,
    resyncIntervalMs: HOUR_MS,
    informers: { watchTimeoutSeconds: 3600 },
    regions: { probeIntervalMs: HOUR_MS },
    logger,
    metrics,
    createReconciler: (regions, hooks, caches) => createReconciler({ hub: sandbox.hubClient, regions, events, logger, metrics: hooks, ...caches }),
  });
  await controller.start();
});

after(async () => {
  await controller?.stop();
  await sandbox?.close();
});

/** Every request each emulator has served (reads, writes and watches). */
function requestCounts(): Record<string, number> {
  return {
    hub: sandbox.hub.requestCount(),
    'us-east1': sandbox.regions['us-east1'].requestCount(),
    'europe-west1': sandbox.regions['europe-west1'].requestCount(),
  };
}

async function reconcileCount(): Promise<number> {
  return (await metrics.reconcileTotal.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Waits until no key is queued, in flight, or waiting for a delayed retry or recheck. */
async function settled(): Promise<void> {
  const queue = controller.queue;
  await waitFor(() => queue.length === 0 && queue.inFlight === 0 && queue.delayed === 0, { what: 'the queue to drain, delayed keys included', timeoutMs: 30_000 });
}

async function createAs(name: string, fieldManager: string, spec = clusterSpec()): Promise<void> {
  await customObjects(sandbox).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: 'tenants',
    fieldManager,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RealtimeCluster', metadata: { name }, spec },
  });
}

async function waitForCluster(name: string, check: (cluster: RealtimeCluster) => boolean, what: string): Promise<RealtimeCluster> {
  return waitFor(async () => {
    const cluster = await getCluster(sandbox, name);
    return cluster && check(cluster) ? cluster : undefined;
  }, { what, timeoutMs: 30_000, intervalMs: 100 });
}

const allReady = (c: RealtimeCluster) => c.status?.phase === 'Ready' && (c.status.regions ?? []).every((r) => r.phase === 'Ready' && r.readyReplicas === r.replicas);

test('a resync of a converged cluster makes zero reads and zero writes in the hub and every region', async () => {
  await createAs('quiet', 'test-client');
  await waitForCluster('quiet', allReady, 'quiet Ready everywhere');
  await settled();
  const before = requestCounts();
  const reconcilesBefore = await reconcileCount();
  controller.resync();
  await waitFor(async () => (await reconcileCount()) > reconcilesBefore, { what: 'the resync to reconcile the cluster' });
  await settled();
  assert.deepEqual(requestCounts(), before, 'no request of any kind to the hub or either region');
  await deleteCluster(sandbox, 'quiet');
  await waitFor(async () => !(await getCluster(sandbox, 'quiet')), { what: 'quiet deleted', timeoutMs: 30_000 });
});

test('the region caches keep of each gateway Pod only what the autoscaler reads, and status only for the Deployment', async () => {
  await createAs('lean', 'test-client');
  await waitForCluster('lean', allReady, 'lean Ready everywhere');
  await settled();
  for (const region of REGIONS) {
    const client = controller.regions.clients().find((c) => c.region === region)!;
    const pods = client.cachedList({ apiVersion: 'v1', kind: 'Pod', namespace: DEFAULTS.regionNamespace }, { 'app.kubernetes.io/instance': 'lean' }) as V1Pod[];
    assert.ok(pods.length > 0, `${region}: the cache holds the gateway pods`);
    for (const pod of pods) {
      assert.equal(pod.spec, undefined, `${region}: no Pod spec is kept`);
      assert.equal(pod.metadata?.managedFields, undefined);
      assert.equal(pod.status?.phase, 'Running');
      assert.ok(pod.status?.podIP, 'the IP the load reads go to is kept');
      assert.ok(pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }
    const names = { namespace: DEFAULTS.regionNamespace };
    const deployment = client.cached({ apiVersion: 'apps/v1', kind: 'Deployment', ...names, name: 'lean-gateway' })?.object as V1Deployment | undefined;
    assert.ok(deployment?.status?.readyReplicas, `${region}: the Deployment's status is kept (readiness is read from it)`);
    assert.ok(deployment?.spec?.template, 'and its spec (the applier compares every rendered field)');
    // The API server gives every Namespace status.phase Active; the cache drops it, as nothing reads it.
    const namespace = client.cached({ apiVersion: 'v1', kind: 'Namespace', name: DEFAULTS.regionNamespace })?.object as (KubernetesObject & { status?: unknown }) | undefined;
    assert.ok(namespace?.metadata?.labels, `${region}: the Namespace is cached`);
    assert.equal(namespace?.status, undefined, 'without the status nothing reads');
  }
  await deleteCluster(sandbox, 'lean');
  await waitFor(async () => !(await getCluster(sandbox, 'lean')), { what: 'lean deleted', timeoutMs: 30_000 });
});

test('clusters in two namespaces, each with its own copy of a region\'s kubeconfig Secret, share one set of watches and one probe per region', async () => {
  await prepareHubNamespace(sandbox.hubConfig, sandbox.regions, 'tenants-b');
  await createAs('shared-a', 'test-client');
  await createCluster(sandbox, 'shared-b', clusterSpec(), 'tenants-b');
  await waitForCluster('shared-a', allReady, 'shared-a Ready everywhere');
  await waitFor(async () => {
    const cluster = (await customObjects(sandbox).getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'tenants-b', name: 'shared-b' })) as RealtimeCluster;
    return allReady(cluster);
  }, { what: 'shared-b Ready everywhere', timeoutMs: 30_000, intervalMs: 100 });
  await settled();
  for (const region of REGIONS) {
    const clients = controller.regions.clients().filter((client) => client.region === region);
    assert.equal(clients.length, 2, `${region}: one client per kubeconfig Secret (health is reported per Secret)`);
    const watches = Object.values(sandbox.regions[region].watchCount()).reduce((a, b) => a + b, 0);
    assert.equal(watches, CACHED_RESOURCES.length, `${region}: one watch per cached kind, not one per Secret`);
  }
  const gets = () => REGIONS.map((region) => sandbox.regions[region].requestCount({ method: 'GET' }));
  const before = gets();
  await controller.regions.probeAll();
  assert.deepEqual(gets(), before.map((count) => count + 1), 'one GET /version per region, whatever the Secrets using it');
  await deleteCluster(sandbox, 'shared-a');
  await customObjects(sandbox).deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'tenants-b', name: 'shared-b' });
  await waitFor(async () => !(await getCluster(sandbox, 'shared-a')), { what: 'shared-a deleted', timeoutMs: 30_000 });
});

test('every write the operator made to the cluster and to regional objects names its field manager', async () => {
  await createAs('managed', 'test-client');
  const cluster = await waitForCluster('managed', allReady, 'managed Ready everywhere');
  await settled();
  const live = (await customObjects(sandbox).getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'tenants', name: 'managed' })) as RealtimeCluster;
  const clusterManagers = (live.metadata.managedFields ?? []).map((f) => `${f.manager}/${f.subresource ?? ''}`);
  // The test created it; the finalizer, the placements record and the status are the operator's.
  assert.deepEqual([...new Set(clusterManagers)].sort(), ['meridian-operator/', 'meridian-operator/status', 'test-client/'].sort(), `managers on the cluster: ${clusterManagers}`);
  assert.ok(cluster.metadata.finalizers?.length, 'the finalizer was written');
  for (const region of REGIONS) {
    const api = KubernetesObjectApi.makeApiClient(sandbox.regionConfigs[region]);
    for (const [apiVersion, kind] of [['apps/v1', 'Deployment'], ['v1', 'ConfigMap'], ['v1', 'Secret'], ['v1', 'Service'], ['v1', 'ServiceAccount'], ['policy/v1', 'PodDisruptionBudget']]) {
      const list = await api.list(apiVersion, kind, 'meridian', undefined, undefined, undefined, undefined, 'meridian.dev/cluster=tenants.managed');
      assert.equal(list.items.length, 1, `${kind} in ${region}`);
      // Status written by the emulator's own controllers is not a write of ours.
      const managers = (list.items[0].metadata?.managedFields ?? []).filter((f) => f.subresource !== 'status').map((f) => f.manager);
      assert.deepEqual([...new Set(managers)], [FIELD_MANAGER], `${kind} in ${region}: ${managers}`);
    }
  }
  await deleteCluster(sandbox, 'managed');
  await waitFor(async () => !(await getCluster(sandbox, 'managed')), { what: 'managed deleted', timeoutMs: 30_000 });
});

test('a region whose kubeconfig Secret is mistyped, then removed from the spec, is owed no cleanup: delete completes at once', async () => {
  const spec = clusterSpec();
  spec.regions = [...spec.regions, { name: 'asia-east1', kubeconfigSecretRef: { name: 'region-asia-east1-typo', key: 'kubeconfig' }, redis: { urlSecretRef: { name: 'redis', key: 'us-east1' } } }];
  await createAs('typo', 'test-client', spec);
  await waitForCluster('typo', (c) => c.status?.regions?.find((r) => r.name === 'asia-east1')?.phase === 'Degraded', 'asia-east1 Degraded (Secret missing)');
  await patchCluster(sandbox, 'typo', { spec: { regions: clusterSpec().regions } });
  const fixed = await waitForCluster('typo', (c) => c.status?.phase === 'Ready' && c.status.observedGeneration === c.metadata.generation, 'typo Ready without asia-east1');
  assert.ok(!fixed.metadata.annotations?.['realtime.meridian.dev/placements']?.includes('asia-east1'), 'the region never written to was never recorded');
  assert.equal(fixed.status?.pendingCleanup, undefined, 'no cleanup is pending');
  await deleteCluster(sandbox, 'typo');
  // Well under the 30 s recheck a blocked cleanup would wait for.
  await waitFor(async () => !(await getCluster(sandbox, 'typo')), { what: 'typo deleted', timeoutMs: 10_000 });
  for (const region of REGIONS) assert.deepEqual(await regionKinds(sandbox, region, 'typo'), [], `nothing left in ${region}`);
});

test('a region written to and then unreachable shows its pending cleanup in status, and deletion says it is deleting, not rolling out', async () => {
  await createAs('stuck', 'test-client');
  await waitForCluster('stuck', allReady, 'stuck Ready everywhere');
  const dark = sandbox.regions['europe-west1'];
  await dark.faults.refuseConnections(true);
  try {
    await patchCluster(sandbox, 'stuck', { spec: { regions: clusterSpec().regions.filter((r) => r.name !== 'europe-west1') } });
    const pending = await waitForCluster('stuck', (c) => (c.status?.pendingCleanup ?? []).some((p) => p.region === 'europe-west1'), 'europe-west1 pending cleanup in status');
    assert.equal(pending.status?.pendingCleanup?.[0].namespace, 'meridian');
    await deleteCluster(sandbox, 'stuck');
    const deleting = await waitForCluster('stuck', (c) => c.status?.conditions?.find((x) => x.type === 'Progressing')?.reason === 'Deleting', 'Progressing reason Deleting');
    const progressing = deleting.status?.conditions?.find((c) => c.type === 'Progressing');
    assert.equal(progressing?.status, 'False');
    assert.ok(deleting.status?.pendingCleanup?.some((p) => p.region === 'europe-west1'), 'deletion names the region it waits for');
  } finally {
    await dark.faults.refuseConnections(false);
  }
  await waitFor(async () => !(await getCluster(sandbox, 'stuck')), { what: 'stuck deleted once the region answers', timeoutMs: 60_000 });
  assert.deepEqual(await regionKinds(sandbox, 'europe-west1', 'stuck'), [], 'the recovered region was cleaned up');
});
