/**
 * Failover capacity on the process runner: a region that goes dark makes the other raise its
 * floor by the dark region's last known connections; when it answers again and stays healthy
 * for the stabilization period, the floor returns, and nothing of the returning region was
 * deleted or recreated (every object and Pod keeps its uid).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from './helpers/net.ts';
import { autoscaleSpec, createRtc, gatewayDeployment, portOf, readRtc, readyGatewayPods, regionObjectUids, RoomClient, startAutoscaleCluster, type AutoscaleCluster } from './helpers/autoscale-cluster.ts';

const NAME = 'exams';
let cluster: AutoscaleCluster;
const clients: RoomClient[] = [];

before(async () => {
  cluster = await startAutoscaleCluster({ loadPeriodMs: 1500 });
  await createRtc(
    cluster,
    NAME,
    autoscaleSpec(
      { targetConnectionsPerPod: 4, headroomPercent: 0, scaleDownStabilizationSeconds: 2, failoverStabilizationSeconds: 4, rebalance: { enabled: false } },
      { min: 1, max: 4 },
      { min: 1, max: 1 },
    ),
  );
  await readyGatewayPods(cluster, 'us-east1', NAME, 1);
  await readyGatewayPods(cluster, 'europe-west1', NAME, 1);
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.close();
});

const uids = () => regionObjectUids(cluster, 'europe-west1', NAME, { pods: true });

test('a region going dark raises the other region\'s floor by its connections; it returns and the floor returns, nothing of it deleted', async () => {
  const [eu] = await readyGatewayPods(cluster, 'europe-west1', NAME, 1);
  for (let i = 0; i < 6; i++) clients.push(await RoomClient.open(portOf(eu), `eu-${i}`, 'exam'));
  await waitFor(async () => ((await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === 'europe-west1')?.connections === 6 ? true : undefined), { what: 'europe-west1 reports 6 connections', timeoutMs: 60_000, intervalMs: 100 });
  const before = await uids();
  assert.ok(before.size >= 7, `europe-west1 objects found: ${[...before.keys()].join(', ')}`);

  await cluster.regions['europe-west1'].server.faults.refuseConnections(true);
  // 6 connections at 4 per pod: us-east1's floor rises from 1 to 1 + 2 = 3.
  await waitFor(async () => ((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas === 3 ? true : undefined), { what: 'us-east1 at its raised floor', timeoutMs: 90_000, intervalMs: 100 });
  // The status is written after the region's Deployment: wait for it too.
  const status = (await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    return rtc.status?.failover && rtc.status.regions?.find((r) => r.name === 'us-east1')?.scaling?.lastDecision?.reason === 'FailoverFloor' ? rtc : undefined;
  }, { what: 'status.failover', timeoutMs: 30_000, intervalMs: 100 })).status!;
  assert.deepEqual(status.failover?.map((f) => [f.region, f.connections]), [['europe-west1', 6]]);
  const us = status.regions!.find((r) => r.name === 'us-east1')!;
  assert.equal(us.scaling?.floorReplicas, 3);
  assert.equal(us.scaling?.lastDecision?.reason, 'FailoverFloor');

  await cluster.regions['europe-west1'].server.faults.refuseConnections(false);
  const returned = await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    const floor = rtc.status?.regions?.find((r) => r.name === 'us-east1')?.scaling?.floorReplicas;
    return !rtc.status?.failover && floor === 1 ? rtc : undefined;
  }, { what: 'floors returned', timeoutMs: 120_000, intervalMs: 100 });
  assert.equal(returned.status!.regions!.find((r) => r.name === 'europe-west1')!.phase, 'Ready');
  // Back down to the minimum, one step per window.
  await waitFor(async () => ((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas === 1 ? true : undefined), { what: 'us-east1 back at its minimum', timeoutMs: 120_000, intervalMs: 200 });
  const after = await uids();
  for (const [object, uid] of before) assert.equal(after.get(object), uid, `${object} in the returning region kept its uid`);
  // The clients of the dark region's pod stayed connected throughout: the region's API server went dark, not its gateways.
  assert.ok(clients.every((c) => c.open));
});
