import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RealtimeCluster } from '../crds/types.ts';
import { ABANDON_ANNOTATION, FINALIZER } from '../operator/reconcile/index.ts';
import {
  ALL_KINDS,
  clusterEvents,
  clusterSpec,
  createCluster,
  deleteCluster,
  patchCluster,
  reconcileUntil,
  regionDeployment,
  regionKinds,
  startSandbox,
  type Sandbox,
} from './operator-reconcile-harness.ts';

let sandbox: Sandbox;
before(async () => {
  sandbox = await startSandbox({ regionCallTimeoutMs: 1_000 });
});
after(async () => {
  await sandbox?.close();
});

const KEY = 'tenants/study';
const regionPhase = (cluster: RealtimeCluster | undefined, region: string) => cluster?.status?.regions?.find((r) => r.name === region)?.phase;
const ready = (cluster: RealtimeCluster | undefined) => cluster?.status?.phase === 'Ready' && cluster.status.observedGeneration === cluster.metadata.generation;

test('a region going dark is Unknown while the other region keeps rolling out, and recovery converges', async () => {
  await createCluster(sandbox, 'study', clusterSpec());
  await reconcileUntil(sandbox, KEY, ready, 'study Ready');

  sandbox.regions['europe-west1'].faults.refuseConnections(true);
  await patchCluster(sandbox, 'study', { spec: { gateway: { image: 'meridian:0.2.0' } } });
  const dark = await reconcileUntil(sandbox, KEY, (c) => regionPhase(c, 'europe-west1') === 'Unknown' && regionPhase(c, 'us-east1') === 'Ready', 'europe-west1 Unknown');
  assert.equal(dark?.status?.phase, 'Degraded');
  const degraded = dark?.status?.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(degraded?.status, 'True');
  assert.equal(degraded?.reason, 'RegionUnreachable');
  assert.equal(dark?.status?.regionsReady, '1/2');
  assert.equal((await regionDeployment(sandbox, 'us-east1', 'study'))?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0', 'the reachable region got the change');
  assert.ok((await clusterEvents(sandbox, 'study')).some((e) => e.reason === 'RegionUnreachable'));

  sandbox.regions['europe-west1'].faults.refuseConnections(false);
  const recovered = await reconcileUntil(sandbox, KEY, ready, 'study Ready again');
  assert.equal(recovered?.status?.regionsReady, '2/2');
  const deployment = await regionDeployment(sandbox, 'europe-west1', 'study');
  assert.equal(deployment?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0', 'the recovered region converged');
  assert.ok((await clusterEvents(sandbox, 'study')).some((e) => e.reason === 'RegionRecovered'));
});

test('a region that stops answering times out into Unknown without stalling the other region', async () => {
  await reconcileUntil(sandbox, KEY, ready, 'study Ready');
  sandbox.regions['us-east1'].faults.setLatency(5_000);
  await patchCluster(sandbox, 'study', { spec: { autoscaling: { minReplicas: 3 } } });
  const hanging = await reconcileUntil(sandbox, KEY, (c) => regionPhase(c, 'us-east1') === 'Unknown' && regionPhase(c, 'europe-west1') === 'Ready', 'us-east1 Unknown');
  assert.match(hanging?.status?.regions?.find((r) => r.name === 'us-east1')?.message ?? '', /did not answer within 1000 ms/);
  assert.equal((await regionDeployment(sandbox, 'europe-west1', 'study'))?.spec?.replicas, 3, 'the answering region got the change');
  sandbox.regions['us-east1'].faults.setLatency(0);
  await reconcileUntil(sandbox, KEY, ready, 'study Ready after the region answers again');
  assert.equal((await regionDeployment(sandbox, 'us-east1', 'study'))?.spec?.replicas, 3);
});

test('API errors from a region or the hub are thrown for a retry with backoff, without touching status, and the next reconcile converges', async () => {
  const before = structuredClone((await reconcileUntil(sandbox, KEY, ready, 'study Ready'))?.status);
  sandbox.regions['us-east1'].faults.failNext(1, 503);
  await assert.rejects(sandbox.reconciler.reconcile(KEY), (error: Error & { reason?: string }) => error.reason === 'RegionApiError' && /us-east1: HTTP 503/.test(error.message));
  assert.deepEqual((await reconcileUntil(sandbox, KEY, () => true, 'read'))?.status, before, 'a converged reconcile after the error leaves status as it was');

  sandbox.hub.faults.failNext(1, 429, 1);
  await assert.rejects(sandbox.reconciler.reconcile(KEY), (error: { statusCode?: number }) => error.statusCode === 429);
  const after = await reconcileUntil(sandbox, KEY, ready, 'study Ready after 429');
  assert.equal(after?.status?.regionsReady, '2/2');
});

test('deletion keeps the finalizer while a region is unreachable, and finishes once that region is abandoned', async () => {
  sandbox.regions['europe-west1'].faults.refuseConnections(true);
  await deleteCluster(sandbox, 'study');
  const blocked = await reconcileUntil(sandbox, KEY, (c) => regionPhase(c, 'europe-west1') === 'Unknown' && !!c?.metadata.deletionTimestamp, 'cleanup blocked');
  assert.ok(blocked?.metadata.finalizers?.includes(FINALIZER), 'the finalizer stays');
  const message = blocked?.status?.regions?.find((r) => r.name === 'europe-west1')?.message ?? '';
  assert.match(message, new RegExp(ABANDON_ANNOTATION.replace(/[./]/g, '\\$&')), 'status says how to give up on the region');
  assert.deepEqual(await regionKinds(sandbox, 'us-east1', 'study'), [], 'the reachable region is cleaned');
  assert.ok((await clusterEvents(sandbox, 'study')).some((e) => e.reason === 'CleanupBlocked'));

  await patchCluster(sandbox, 'study', { metadata: { annotations: { [ABANDON_ANNOTATION]: 'europe-west1' } } });
  await reconcileUntil(sandbox, KEY, (c) => c === undefined, 'cluster gone after abandoning europe-west1');
  assert.ok((await clusterEvents(sandbox, 'study')).some((e) => e.reason === 'RegionAbandoned'));

  sandbox.regions['europe-west1'].faults.refuseConnections(false);
  assert.deepEqual(await regionKinds(sandbox, 'europe-west1', 'study'), ALL_KINDS, 'an abandoned region keeps its objects: nothing is deleted unseen');
});
