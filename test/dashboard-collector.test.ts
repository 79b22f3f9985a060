/**
 * The dashboard's collector against a real gateway's metrics listener: a notification pushed
 * over the socket shows up in the region's view by channel and outcome, with the queue backlog,
 * next to the connections it already reports. The cluster and its pods are described by the
 * test; the metrics are the gateway's own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RealtimeCluster } from '../crds/types.ts';
import { Collector } from '../operator/dashboard/collector.ts';
import { parsePrometheusText } from '../operator/dashboard/prom-text.ts';
import type { DashboardSources } from '../operator/dashboard/sources.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

let gw: TestGateway;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.close();
});

const cluster = {
  apiVersion: 'realtime.meridian.dev/v1alpha1',
  kind: 'RealtimeCluster',
  metadata: { name: 'classes', namespace: 'default' },
  spec: { gateway: { image: 'meridian' }, regions: [{ name: 'eu' }] },
  status: { regions: [{ name: 'eu', phase: 'Ready' }] },
} as unknown as RealtimeCluster;

function sources(): DashboardSources {
  return {
    listClusters: async () => [cluster],
    clusterEvents: async () => [],
    regionPods: async () => [{ name: 'gw-0', ready: true, phase: 'Running', restarts: 0, deleting: false }],
    podMetrics: async () => parsePrometheusText(await (await fetch(gw.metricsUrl)).text()),
    operatorMetrics: async () => new Map(),
  };
}

test('a notification delivered over the socket appears in the region view by channel and outcome, with the backlog', async () => {
  const collector = new Collector(sources(), 60_000);
  const before = (await collector.sample()).clusters[0].regions[0];
  assert.deepEqual(before.notifications?.deliveries, {}, 'notifications on, nothing delivered yet');
  const client = await gw.client('ada');
  assert.equal((await client.request({ op: 'subscribe', room: 'user:ada' })).op, 'subscribed');
  const sent = await gw.apiJson('/v1/notify', { method: 'POST', body: JSON.stringify({ to: { users: ['ada'] }, title: 'class starts', body: 'in 5 minutes' }) });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  await client.waitFrame((f) => f.op === 'notification');
  const region = await waitFor(async () => {
    const view = (await collector.sample()).clusters[0].regions[0];
    return (view.notifications?.deliveries.socket?.delivered ?? 0) >= 1 ? view : undefined;
  }, { what: 'the socket delivery in the view' });
  assert.equal(region.connections, 1);
  assert.equal(typeof region.notifications!.backlog, 'number');
  await client.close();
});
