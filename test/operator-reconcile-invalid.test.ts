import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { RealtimeCluster } from '../crds/types.ts';
import {
  HUB_NAMESPACE,
  REGIONS,
  base64Values,
  clusterEvents,
  clusterSpec,
  createCluster,
  getCluster,
  prepareHubNamespace,
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
  await createCluster(sandbox, 'healthy', clusterSpec());
  await reconcileUntil(sandbox, 'tenants/healthy', ready, 'healthy Ready');
});
after(async () => {
  await sandbox?.close();
});

function ready(cluster: RealtimeCluster | undefined): boolean {
  return cluster?.status?.phase === 'Ready' && cluster.status.observedGeneration === cluster.metadata.generation;
}
const degraded = (cluster: RealtimeCluster | undefined) => cluster?.status?.conditions?.find((c) => c.type === 'Degraded');
const regionWrites = (sandbox: Sandbox) => REGIONS.map((r) => sandbox.regions[r].requestCount({ writesOnly: true }));

/** Reconciles an invalid cluster twice; asserts it is Degraded for `reason`, wrote nothing to regions, and the healthy cluster is untouched. */
async function expectInvalid(name: string, reason: string, messagePart: RegExp): Promise<void> {
  const before = regionWrites(sandbox);
  const result = await sandbox.reconciler.reconcile(`tenants/${name}`);
  assert.ok(result.requeueAfterMs && result.requeueAfterMs > 0, 'looked at again later, not retried hot');
  const cluster = await getCluster(sandbox, name);
  assert.equal(cluster?.status?.phase, 'Degraded');
  assert.equal(degraded(cluster)?.status, 'True');
  assert.equal(degraded(cluster)?.reason, reason);
  assert.match(degraded(cluster)?.message ?? '', messagePart);
  assert.equal(cluster?.status?.observedGeneration, cluster?.metadata.generation);
  const events = (await clusterEvents(sandbox, name)).filter((e) => e.reason === 'InvalidSpec');
  assert.equal(events.length, 1, 'one InvalidSpec event');

  const again = writeCounts(sandbox);
  await sandbox.reconciler.reconcile(`tenants/${name}`);
  assert.deepEqual(writeCounts(sandbox), again, 'an unchanged invalid spec makes no further writes');
  assert.deepEqual(regionWrites(sandbox), before, 'no region writes');
  for (const region of REGIONS) assert.deepEqual(await regionKinds(sandbox, region, name), []);
  assert.equal((await getCluster(sandbox, 'healthy'))?.status?.phase, 'Ready', 'the other cluster is untouched');
}

test('a spec naming a Secret that does not exist is Degraded with SecretMissing, and recovers when the Secret appears', async () => {
  const spec = clusterSpec();
  spec.gateway.auth = { jwtSecretRef: { name: 'late-auth', key: 'jwt-secret' } };
  await createCluster(sandbox, 'late', spec);
  await expectInvalid('late', 'SecretMissing', /spec\.gateway\.auth\.jwtSecretRef\.name: Secret "late-auth" not found/);

  await sandbox.hubConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: HUB_NAMESPACE, body: { metadata: { name: 'late-auth' }, data: base64Values({ 'jwt-secret': 'x' }) } });
  const fixed = await reconcileUntil(sandbox, 'tenants/late', ready, 'late Ready');
  assert.equal(degraded(fixed)?.status, 'False');
});

test('a Secret without the referenced key is Degraded with SecretKeyMissing', async () => {
  const spec = clusterSpec();
  spec.gateway.auth = { jwtSecretRef: { name: 'auth', key: 'no-such-key' } };
  await createCluster(sandbox, 'keyless', spec);
  await expectInvalid('keyless', 'SecretKeyMissing', /has no key "no-such-key"/);
});

test('minReplicas above maxReplicas is refused by the API server (CEL rule), so it never reaches reconcile', async () => {
  await assert.rejects(createCluster(sandbox, 'inverted', clusterSpec({ autoscaling: { minReplicas: 5, maxReplicas: 2 } })), (error: { code?: number; body?: unknown }) => {
    assert.equal(error.code, 422);
    assert.match(String(error.body), /spec\.autoscaling\.minReplicas: Invalid value: .*autoscaling\.minReplicas must not exceed autoscaling\.maxReplicas/);
    return true;
  });
  // validateRealtimeCluster keeps the same rule for objects that bypass the API server's rules (test/crd-generate.test.ts).
});

test('a rule only the operator checks (autoscaling target above the per-pod limit) is Degraded and names the field', async () => {
  await createCluster(sandbox, 'crowded', clusterSpec({ autoscaling: { minReplicas: 2, maxReplicas: 4, targetConnectionsPerPod: 30_000 } }));
  await expectInvalid('crowded', 'FieldValueInvalid', /spec\.autoscaling\.targetConnectionsPerPod: 30000 exceeds gateway\.maxConnectionsPerPod/);
});

test('a region listed twice is refused by the API server (list-map key), so it never reaches reconcile', async () => {
  const spec = clusterSpec();
  spec.regions = [spec.regions[0], { ...spec.regions[0] }];
  await assert.rejects(createCluster(sandbox, 'twice', spec), (error: { code?: number; body?: unknown }) => {
    assert.equal(error.code, 422);
    assert.match(String(error.body), /spec\.regions\[1\].*Duplicate value/);
    return true;
  });
  // validateRealtimeCluster keeps the same rule for objects that bypass the schema (test/crd-generate.test.ts).
});

test('a region whose kubeconfig Secret is missing is Degraded while the other region is rolled out', async () => {
  const spec = clusterSpec();
  spec.regions[1] = { ...spec.regions[1], kubeconfigSecretRef: { name: 'no-such-kubeconfig', key: 'kubeconfig' } };
  await createCluster(sandbox, 'halfway', spec);
  const cluster = await reconcileUntil(
    sandbox,
    'tenants/halfway',
    (c) => c?.status?.regions?.find((r) => r.name === 'us-east1')?.phase === 'Ready',
    'us-east1 Ready',
  );
  const europe = cluster?.status?.regions?.find((r) => r.name === 'europe-west1');
  assert.equal(europe?.phase, 'Degraded');
  assert.match(europe?.message ?? '', /KubeconfigSecretMissing/);
  assert.equal(cluster?.status?.phase, 'Degraded');
  assert.equal(degraded(cluster)?.reason, 'RegionFailed');
  assert.ok((await clusterEvents(sandbox, 'halfway')).some((e) => e.reason === 'RegionMisconfigured'));
});

test('a cluster of the same name in another hub namespace never takes over the first one’s regional objects', async () => {
  await prepareHubNamespace(sandbox.hubConfig, sandbox.regions, 'other-team');
  const key = await createCluster(sandbox, 'healthy', clusterSpec(), 'other-team');
  const before = regionWrites(sandbox);
  const intruder = await reconcileUntil(sandbox, key, (c) => c?.status?.phase === 'Degraded', 'other-team/healthy Degraded');
  for (const region of REGIONS) {
    const status = intruder?.status?.regions?.find((r) => r.name === region);
    assert.equal(status?.phase, 'Degraded');
    assert.match(status?.message ?? '', /ObjectOwnedByOtherCluster: .*belongs to RealtimeCluster tenants\.healthy/);
  }
  assert.deepEqual(regionWrites(sandbox), before, 'nothing written to the regions');
  const owner = (await regionDeployment(sandbox, 'us-east1', 'healthy'))?.metadata?.labels?.['meridian.dev/cluster'];
  assert.equal(owner, 'tenants.healthy');
  assert.equal((await getCluster(sandbox, 'healthy'))?.status?.phase, 'Ready', 'the first cluster is untouched');
});
