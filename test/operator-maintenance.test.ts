/**
 * Planned region maintenance on the process runner (every gateway Pod a real `meridian gateway`
 * process): maintenance on europe-west1 raises us-east1 to hold europe-west1's connections
 * first, then drains europe-west1's gateways (every client closed with 1012, none with 1006) and
 * holds it at zero pods with its objects kept, each client told before its close where to go
 * (a `reconnect` push naming us-east1's endpoint); maintenance off brings it back, and us-east1's
 * floor returns after the stabilization period.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { waitFor } from './helpers/net.ts';
import { autoscaleSpec, createRtc, gatewayDeployment, gatewayPods, patchRtc, portOf, readRtc, readyGatewayPods, regionObjectUids, RoomClient, startAutoscaleCluster, type AutoscaleCluster } from './helpers/autoscale-cluster.ts';
import { HUB_NAMESPACE } from './operator-reconcile-harness.ts';

const NAME = 'lectures';
const ENDPOINTS: Record<string, string> = { 'us-east1': 'wss://us-east1.rt.example.test/v1/ws', 'europe-west1': 'wss://europe-west1.rt.example.test/v1/ws' };
let cluster: AutoscaleCluster;
const clients: RoomClient[] = [];

before(async () => {
  cluster = await startAutoscaleCluster({ loadPeriodMs: 1500 });
  const spec = autoscaleSpec(
    { targetConnectionsPerPod: 4, headroomPercent: 0, scaleDownStabilizationSeconds: 2, failoverStabilizationSeconds: 4, rebalance: { enabled: false } },
    { min: 1, max: 4 },
    { min: 1, max: 1 },
  );
  // Public endpoints: a drained region's clients are told where to go.
  await createRtc(cluster, NAME, { ...spec, regions: spec.regions.map((r) => ({ ...r, endpoint: ENDPOINTS[r.name] })) });
  await readyGatewayPods(cluster, 'us-east1', NAME, 1);
  await readyGatewayPods(cluster, 'europe-west1', NAME, 1);
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.close();
});

/** europe-west1's objects (not its Pods, which maintenance removes) by kind/name → uid. */
const objectUids = () => regionObjectUids(cluster, 'europe-west1', NAME);

async function setMaintenance(on: boolean): Promise<void> {
  const rtc = await readRtc(cluster, NAME);
  await patchRtc(cluster, NAME, { spec: { regions: rtc.spec.regions.map((r) => (r.name === 'europe-west1' ? { ...r, maintenance: on } : r)) } });
}

async function maintenanceEvents(): Promise<string[]> {
  const events = await cluster.hubConfig.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: HUB_NAMESPACE });
  return events.items.filter((e) => e.involvedObject.name === NAME && /Maintenance/.test(e.reason ?? '')).map((e) => e.reason ?? '');
}

test('maintenance on a region raises the other first, drains its clients with 1012 and holds it at zero pods with its objects kept; off brings it back and the floor returns', async () => {
  const [eu] = await readyGatewayPods(cluster, 'europe-west1', NAME, 1);
  for (let i = 0; i < 6; i++) clients.push(await RoomClient.open(portOf(eu), `eu-${i}`, 'lecture'));
  await waitFor(async () => ((await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === 'europe-west1')?.connections === 6 ? true : undefined), { what: 'europe-west1 reports 6 connections', timeoutMs: 60_000, intervalMs: 100 });
  const before = await objectUids();
  assert.ok(before.size >= 6, `europe-west1 objects found: ${[...before.keys()].join(', ')}`);

  await setMaintenance(true);
  // The europe-west1 pod's deletion: when draining began.
  const deletedAt = await waitFor(async () => {
    const pod = (await gatewayPods(cluster, 'europe-west1', NAME)).find((p) => p.metadata?.name === eu.metadata?.name);
    return pod?.metadata?.deletionTimestamp ? new Date(pod.metadata.deletionTimestamp).getTime() : undefined;
  }, { what: 'europe-west1 pod deleted', timeoutMs: 120_000, intervalMs: 50 });
  // 6 connections at 4 per pod: us-east1's floor rose from 1 to 3, and its pods were Ready before the drain began.
  const us = await gatewayPods(cluster, 'us-east1', NAME);
  const readySince = us.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime);
  assert.equal(readySince.length, 3, 'us-east1 runs its raised floor of 3 pods when europe-west1 starts draining');
  for (const since of readySince) assert.ok(since && new Date(since).getTime() <= deletedAt, `a us-east1 pod was Ready (${since}) before europe-west1 began draining (${new Date(deletedAt).toISOString()})`);

  await waitFor(async () => (clients.every((c) => c.closes.length > 0) ? true : undefined), { what: 'every europe-west1 client closed', timeoutMs: 60_000, intervalMs: 100 });
  assert.deepEqual(clients.map((c) => c.closes), clients.map(() => [1012]), 'every client was closed with 1012, none with 1006');
  assert.deepEqual(clients.map((c) => c.reconnects), clients.map(() => [[ENDPOINTS['us-east1']]]), 'each client was told, before its close, to go to the serving region');
  const held = await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    return rtc.status?.regions?.find((r) => r.name === 'europe-west1')?.maintenance?.step === 'InMaintenance' ? rtc : undefined;
  }, { what: 'europe-west1 InMaintenance', timeoutMs: 60_000, intervalMs: 100 });
  assert.equal((await gatewayDeployment(cluster, 'europe-west1', NAME)).spec?.replicas, 0);
  assert.equal((await gatewayPods(cluster, 'europe-west1', NAME)).length, 0);
  const condition = held.status!.conditions!.find((c) => c.type === 'Maintenance');
  assert.equal(condition?.status, 'True');
  assert.equal(condition?.reason, 'InMaintenance');
  assert.deepEqual(held.status!.failover?.map((f) => [f.region, f.connections, f.maintenance]), [['europe-west1', 6, true]]);
  assert.deepEqual(await objectUids(), before, 'every europe-west1 object kept, with its uid');

  await setMaintenance(false);
  await readyGatewayPods(cluster, 'europe-west1', NAME, 1);
  const done = await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    return rtc.status?.regions?.find((r) => r.name === 'europe-west1')?.maintenance?.step === 'Complete' ? rtc : undefined;
  }, { what: 'maintenance Complete', timeoutMs: 120_000, intervalMs: 100 });
  assert.equal(done.status!.failover, undefined);
  assert.equal(done.status!.regions!.find((r) => r.name === 'us-east1')!.scaling?.floorReplicas, 1);
  assert.equal(done.status!.conditions!.find((c) => c.type === 'Maintenance')?.status, 'False');
  await waitFor(async () => ((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas === 1 ? true : undefined), { what: 'us-east1 back at its minimum', timeoutMs: 120_000, intervalMs: 200 });
  assert.deepEqual(await objectUids(), before, 'the returning region was not recreated');
  const reasons = await maintenanceEvents();
  for (const reason of ['MaintenanceRaisingCapacity', 'MaintenanceDraining', 'InMaintenance', 'MaintenanceRestoring', 'MaintenanceComplete']) assert.ok(reasons.includes(reason), `Event ${reason} among ${reasons.join(', ')}`);
});
