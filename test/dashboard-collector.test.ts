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
import { askAi, fakeAiBlock, FakeAiServer } from './helpers/fake-ai.ts';
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

test('AI: spend today against the budget as the operator reported it, null (not 0) before it did, today\'s provider mix from the tallies, and the mix since the pods started from their counters', async () => {
  const openai = await FakeAiServer.start('openai');
  const gemini = await FakeAiServer.start('gemini');
  const aiGateway = await startGateway({ ai: fakeAiBlock(openai, gemini) });
  try {
    const client = await aiGateway.client('ada');
    const { end } = await askAi(client, 1, 'chat', { prompt: 'What is a prime number?' });
    assert.equal(end.op, 'ai_done', JSON.stringify(end));
    // The gateway's /loadz reports the region's spend today once its copy of the tally is read.
    const load = await waitFor(async () => {
      const body = (await (await fetch(`${aiGateway.httpUrl}/loadz`)).json()) as { ai?: { day: string; spentUsd: number; dailyBudgetUsd: number; providers: Record<string, { requests: number; spentUsd: number }> } };
      return body.ai && body.ai.spentUsd > 0 ? body.ai : undefined;
    }, { what: 'the spend today in /loadz' });
    assert.equal(load.day, new Date().toISOString().slice(0, 10));
    // The day's mix from the region's per-provider tally, as the operator carries it to status.ai.providers.
    assert.deepEqual(load.providers, { openai: { requests: 1, spentUsd: load.spentUsd } });
    const providers = Object.entries(load.providers).map(([name, day]) => ({ name, ...day }));
    const withAi = (status: Record<string, unknown>) =>
      ({ ...cluster, spec: { ...cluster.spec, ai: { dailyBudgetUsd: 10 } }, status: { regions: [{ name: 'eu', phase: 'Ready', ...status }], ...(status.aiSpentTodayUsd !== undefined ? { ai: { day: load.day, spentTodayUsd: load.spentUsd, dailyBudgetUsd: 10, regionDailyBudgetUsd: 10, regionsReporting: 1, providers } } : {}) } }) as unknown as RealtimeCluster;
    let listed = withAi({});
    const collector = new Collector({ ...sources(), listClusters: async () => [listed], podMetrics: async () => parsePrometheusText(await (await fetch(aiGateway.metricsUrl)).text()) }, 60_000);

    const unknown = (await collector.sample()).clusters[0];
    assert.equal(unknown.aiToday, null, 'no status.ai yet: unknown, not $0');
    assert.equal(unknown.aiMixToday, null, "no status.ai yet: today's mix unknown, not empty");
    assert.equal(unknown.aiBudgetUsd, 10);
    assert.equal(unknown.regions[0].ai?.spentTodayUsd, null);
    assert.deepEqual(Object.keys(unknown.regions[0].ai!.providers), ['openai']);
    assert.equal(unknown.regions[0].ai!.providers.openai.share, 1, 'the one request went to openai (cheapest)');
    assert.ok(unknown.regions[0].ai!.providers.openai.costUsd > 0);

    listed = withAi({ aiSpentTodayUsd: load.spentUsd });
    const known = (await collector.sample()).clusters[0];
    assert.equal(known.regions[0].ai?.spentTodayUsd, load.spentUsd);
    assert.equal(known.regions[0].ai?.budgetUsd, 10);
    assert.deepEqual(known.aiToday, { day: load.day, spentTodayUsd: load.spentUsd, dailyBudgetUsd: 10, regionDailyBudgetUsd: 10, regionsReporting: 1, providers });
    assert.deepEqual(known.aiMixToday, [{ name: 'openai', requests: 1, spentUsd: load.spentUsd, share: 1 }], "today's mix with each provider's share of the requests");
    await client.close();
  } finally {
    await aiGateway.close();
    await openai.close();
    await gemini.close();
  }
});
