import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type RealtimeCluster, type RegionStatus } from '../crds/types.ts';
import { pino } from 'pino';
import { FINALIZER, PLACEMENTS_ANNOTATION, createReconciler } from '../operator/reconcile/index.ts';
import type { RegionPool } from '../operator/types.ts';
import {
  ALL_KINDS,
  HUB_NAMESPACE,
  REGIONS,
  base64Values,
  clusterEvents,
  clusterSpec,
  createCluster,
  customObjects,
  deleteCluster,
  getCluster,
  patchCluster,
  reconcileUntil,
  regionDeployment,
  regionKinds,
  startSandbox,
  writeCounts,
  type Sandbox,
} from './operator-reconcile-harness.ts';

let sandbox: Sandbox;
before(async () => {
  sandbox = await startSandbox();
});
after(async () => {
  await sandbox?.close();
});

const ready = (cluster: RealtimeCluster | undefined) =>
  cluster?.status?.phase === 'Ready' && cluster.status.observedGeneration === cluster.metadata.generation;
const condition = (cluster: RealtimeCluster | undefined, type: string) => cluster?.status?.conditions?.find((c) => c.type === type);

test('a new cluster gets a finalizer, its objects in both regions, and becomes Ready once the gateways are ready', async () => {
  const key = await createCluster(sandbox, 'classroom', clusterSpec());
  const cluster = await reconcileUntil(sandbox, key, ready, 'classroom Ready');
  assert.ok(cluster);
  assert.ok(cluster.metadata.finalizers?.includes(FINALIZER));
  assert.equal(cluster.status?.regionsReady, '2/2');
  assert.equal(condition(cluster, 'Ready')?.status, 'True');
  assert.equal(condition(cluster, 'Ready')?.observedGeneration, cluster.metadata.generation);
  assert.equal(condition(cluster, 'Degraded')?.status, 'False');
  for (const region of REGIONS) {
    assert.deepEqual(await regionKinds(sandbox, region, 'classroom'), ALL_KINDS, `all objects in ${region}`);
    const deployment = await regionDeployment(sandbox, region, 'classroom');
    assert.equal(deployment?.spec?.replicas, 2);
    const regionStatus: RegionStatus | undefined = cluster.status?.regions?.find((r) => r.name === region);
    assert.equal(regionStatus?.phase, 'Ready');
    assert.equal(regionStatus?.readyReplicas, 2);
    assert.ok(regionStatus?.lastSyncTime, 'lastSyncTime set');
    const env = deployment?.spec?.template.spec?.containers[0].env ?? [];
    assert.equal(env.find((e) => e.name === 'MERIDIAN_REGION')?.value, region);
  }
  const reasons = (await clusterEvents(sandbox, 'classroom')).map((e) => e.reason);
  assert.ok(reasons.includes('Applied'), 'an Applied event');
});

test('a reconcile of an unchanged cluster makes no writes anywhere', async () => {
  const key = 'tenants/classroom';
  await sandbox.reconciler.reconcile(key);
  const before = writeCounts(sandbox);
  const result = await sandbox.reconciler.reconcile(key);
  await sandbox.reconciler.reconcile(key);
  assert.deepEqual(writeCounts(sandbox), before);
  assert.equal(result.requeueAfterMs, undefined, 'nothing to look at again');
});

test('a condition another component owns (here BackupReady) survives reconciles, and status is still not rewritten', async () => {
  const backupReady = { type: 'BackupReady', status: 'True', reason: 'BackupTaken', message: 'last backup 5 minutes ago', lastTransitionTime: new Date().toISOString() };
  const current = await getCluster(sandbox, 'classroom');
  await customObjects(sandbox).patchNamespacedCustomObjectStatus(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name: 'classroom', body: { status: { conditions: [...(current?.status?.conditions ?? []), backupReady] } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await sandbox.reconciler.reconcile('tenants/classroom');
  const before = writeCounts(sandbox);
  await sandbox.reconciler.reconcile('tenants/classroom');
  assert.deepEqual(writeCounts(sandbox), before, 'no writes');
  const kept = (await getCluster(sandbox, 'classroom'))?.status?.conditions?.find((c) => c.type === 'BackupReady');
  assert.deepEqual(kept, backupReady);
});

test('a status another component writes during a reconcile is not overwritten: the stale write gets 409 and the retry keeps both', async () => {
  const key = 'tenants/classroom';
  const backup = { type: 'BackupReady', status: 'False', reason: 'BackupRunning', message: 'taking a backup', lastTransitionTime: new Date().toISOString() };
  let raced = false;
  const racing: RegionPool = {
    async client(namespace, region) {
      if (!raced) {
        raced = true;
        const live = await getCluster(sandbox, 'classroom');
        const others = (live?.status?.conditions ?? []).filter((c) => c.type !== 'BackupReady');
        await customObjects(sandbox).patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, name: 'classroom', body: { status: { conditions: [...others, backup] } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
      return sandbox.pool.client(namespace, region);
    },
  };
  const logger = pino({ level: 'silent' });
  const reconciler = createReconciler({ hub: sandbox.hubClient, regions: racing, events: sandbox.events, logger });
  await sandbox.regionConfigs['us-east1'].makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name: 'classroom-gateway', namespace: 'meridian' });
  await assert.rejects(reconciler.reconcile(key), (error: { statusCode?: number }) => error.statusCode === 409);
  const converged = await reconcileUntil(sandbox, key, ready, 'Ready after the conflict');
  assert.deepEqual(converged?.status?.conditions?.find((c) => c.type === 'BackupReady'), backup, 'the other writer\'s condition survived');
});

test('a spec change is rolled out to both regions and its generation observed', async () => {
  await patchCluster(sandbox, 'classroom', { spec: { gateway: { image: 'meridian:0.2.0' }, autoscaling: { minReplicas: 3 } } });
  const generation = (await getCluster(sandbox, 'classroom'))?.metadata.generation ?? 0;
  const cluster = await reconcileUntil(sandbox, 'tenants/classroom', (c) => ready(c) && (c?.status?.observedGeneration ?? 0) >= generation, 'rollout of 0.2.0');
  assert.equal(cluster?.status?.observedGeneration, generation);
  for (const region of REGIONS) {
    const deployment = await regionDeployment(sandbox, region, 'classroom');
    assert.equal(deployment?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0');
    assert.equal(deployment?.spec?.replicas, 3);
    assert.equal(cluster?.status?.regions?.find((r) => r.name === region)?.desiredReplicas, 3);
  }
});

test('a gateway Deployment deleted in one region and edited in the other is repaired', async () => {
  await sandbox.regionConfigs['us-east1'].makeApiClient(AppsV1Api).deleteNamespacedDeployment({ name: 'classroom-gateway', namespace: 'meridian' });
  await sandbox.regionConfigs['europe-west1'].makeApiClient(AppsV1Api).patchNamespacedDeployment(
    { name: 'classroom-gateway', namespace: 'meridian', body: { spec: { replicas: 7, template: { spec: { containers: [{ name: 'gateway', image: 'someone/else:latest' }] } } } } },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  await reconcileUntil(sandbox, 'tenants/classroom', ready, 'repaired and Ready');
  for (const region of REGIONS) {
    const deployment = await regionDeployment(sandbox, region, 'classroom');
    assert.equal(deployment?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0', `image in ${region}`);
    assert.equal(deployment?.spec?.replicas, 3, `replicas in ${region}`);
  }
});

test('a repeated repair bumps the count of one Event instead of recording another', async () => {
  const apps = sandbox.regionConfigs['us-east1'].makeApiClient(AppsV1Api);
  for (let round = 0; round < 2; round += 1) {
    await apps.deleteNamespacedDeployment({ name: 'classroom-gateway', namespace: 'meridian' });
    await reconcileUntil(sandbox, 'tenants/classroom', ready, `repaired (round ${round + 1})`);
  }
  const repairs = (await clusterEvents(sandbox, 'classroom')).filter((e) => e.reason === 'Applied' && e.message === 'region us-east1: applied Deployment/classroom-gateway');
  assert.equal(repairs.length, 1, 'one Event object');
  assert.ok((repairs[0].count ?? 0) >= 3, `count bumped (${repairs[0].count})`);
});

test('a rotated hub Secret reaches both regions and rolls the gateways', async () => {
  const before = await regionDeployment(sandbox, 'europe-west1', 'classroom');
  const hash = (d: typeof before) => d?.spec?.template.metadata?.annotations?.['realtime.meridian.dev/config-hash'];
  await sandbox.hubConfig.makeApiClient(CoreV1Api).replaceNamespacedSecret({
    name: 'auth',
    namespace: HUB_NAMESPACE,
    body: { metadata: { name: 'auth', namespace: HUB_NAMESPACE }, data: base64Values({ 'jwt-secret': 'rotated-jwt-secret', 'api-key': 'test-api-key' }) },
  });
  await reconcileUntil(sandbox, 'tenants/classroom', (c) => ready(c) && c?.status?.conditions?.find((x) => x.type === 'Progressing')?.status === 'False', 'rolled after rotation');
  for (const region of REGIONS) {
    const secret = await sandbox.regionConfigs[region].makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'classroom-gateway-secrets', namespace: 'meridian' });
    assert.equal(Buffer.from(secret.data?.['jwt-secret'] ?? '', 'base64').toString(), 'rotated-jwt-secret', `secret in ${region}`);
  }
  assert.notEqual(hash(await regionDeployment(sandbox, 'europe-west1', 'classroom')), hash(before), 'the pod template changed, so pods roll');
});

test('a paused cluster writes nothing to regions, says Paused, and repairs again when resumed', async () => {
  await patchCluster(sandbox, 'classroom', { spec: { paused: true, gateway: { image: 'meridian:0.3.0' } } });
  const paused = await reconcileUntil(sandbox, 'tenants/classroom', (c) => condition(c, 'Paused')?.status === 'True', 'Paused condition');
  assert.equal(condition(paused, 'Paused')?.reason, 'SpecPaused');
  const regionWrites = () => [sandbox.regions['us-east1'].requestCount({ writesOnly: true }), sandbox.regions['europe-west1'].requestCount({ writesOnly: true })];
  const before = regionWrites();
  await sandbox.reconciler.reconcile('tenants/classroom');
  assert.deepEqual(regionWrites(), before, 'no region writes while paused');
  assert.equal((await regionDeployment(sandbox, 'us-east1', 'classroom'))?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0');

  await patchCluster(sandbox, 'classroom', { spec: { paused: false } });
  const resumed = await reconcileUntil(sandbox, 'tenants/classroom', (c) => ready(c) && !condition(c, 'Paused'), 'resumed and Ready');
  assert.equal(resumed?.status?.regionsReady, '2/2');
  assert.equal((await regionDeployment(sandbox, 'us-east1', 'classroom'))?.spec?.template.spec?.containers[0].image, 'meridian:0.3.0');
  const reasons = (await clusterEvents(sandbox, 'classroom')).map((e) => e.reason);
  assert.ok(reasons.includes('Paused') && reasons.includes('Resumed'));
});

test('a region dropped from the spec has its objects deleted, and the record of placements forgets it', async () => {
  const cluster = await getCluster(sandbox, 'classroom');
  const regions = cluster?.spec.regions.filter((r) => r.name === 'us-east1');
  await patchCluster(sandbox, 'classroom', { spec: { regions } });
  const after = await reconcileUntil(
    sandbox,
    'tenants/classroom',
    (c) => ready(c) && !(c?.metadata.annotations?.[PLACEMENTS_ANNOTATION] ?? '').includes('europe-west1'),
    'europe-west1 forgotten',
  );
  assert.deepEqual(await regionKinds(sandbox, 'europe-west1', 'classroom'), [], 'nothing left in europe-west1');
  assert.deepEqual(await regionKinds(sandbox, 'us-east1', 'classroom'), ALL_KINDS, 'us-east1 untouched');
  assert.equal(after?.status?.regionsReady, '1/1');
  assert.ok((await clusterEvents(sandbox, 'classroom')).some((e) => e.reason === 'CleanedUp' && /europe-west1/.test(e.message ?? '')));
});

test('deleting the cluster removes its objects in both regions, then the finalizer', async () => {
  await deleteCluster(sandbox, 'classroom');
  await reconcileUntil(sandbox, 'tenants/classroom', (c) => c === undefined, 'cluster gone');
  for (const region of REGIONS) {
    assert.deepEqual(await regionKinds(sandbox, region, 'classroom'), [], `nothing left in ${region}`);
  }
  const reasons = (await clusterEvents(sandbox, 'classroom')).map((e) => e.reason);
  assert.ok(reasons.includes('CleanedUp'));
});
