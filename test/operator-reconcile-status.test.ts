import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RealtimeCluster } from '../crds/types.ts';
import { computeStatus, statusChanged, type RegionObservation } from '../operator/reconcile/status.ts';

function cluster(status?: RealtimeCluster['status'], generation = 3): RealtimeCluster {
  return {
    apiVersion: 'realtime.meridian.dev/v1alpha1',
    kind: 'RealtimeCluster',
    metadata: { name: 'classroom', namespace: 'tenants', generation },
    spec: { gateway: { image: 'meridian:1', auth: { jwksUrl: 'https://auth.example/jwks' } }, regions: [{ name: 'us-east1' }, { name: 'europe-west1' }] },
    ...(status ? { status } : {}),
  };
}

const ready = (name: string, wrote = false): RegionObservation => ({ name, phase: 'Ready', replicas: 2, readyReplicas: 2, desiredReplicas: 2, message: '2/2 gateway pods ready', wrote });
const t1 = new Date('2026-11-25T10:00:00Z');
const t2 = new Date('2026-11-25T10:10:00Z');

test('two Ready regions make a Ready cluster with per-condition observedGeneration', () => {
  const status = computeStatus({ cluster: cluster(), problems: [], regions: [ready('us-east1', true), ready('europe-west1', true)], paused: false, now: t1 });
  assert.equal(status.phase, 'Ready');
  assert.equal(status.regionsReady, '2/2');
  assert.equal(status.observedGeneration, 3);
  for (const c of status.conditions ?? []) assert.equal(c.observedGeneration, 3, `${c.type} observedGeneration`);
  assert.deepEqual(status.conditions?.map((c) => `${c.type}=${c.status}`), ['Ready=True', 'Progressing=False', 'Degraded=False']);
});

test('a resync that observes the same state keeps every timestamp, so nothing needs writing', () => {
  const first = computeStatus({ cluster: cluster(), problems: [], regions: [ready('us-east1', true), ready('europe-west1', true)], paused: false, now: t1 });
  const again = computeStatus({ cluster: cluster(first), problems: [], regions: [ready('us-east1'), ready('europe-west1')], paused: false, now: t2 });
  assert.deepEqual(again, first);
  assert.equal(statusChanged(first, again), false);
});

test('a region going Unknown moves only the conditions that flipped, and keeps its last sync time', () => {
  const first = computeStatus({ cluster: cluster(), problems: [], regions: [ready('us-east1', true), ready('europe-west1', true)], paused: false, now: t1 });
  const dark: RegionObservation = { name: 'europe-west1', phase: 'Unknown', message: 'unreachable: fetch failed (ECONNREFUSED)', wrote: false };
  const next = computeStatus({ cluster: cluster(first), problems: [], regions: [ready('us-east1'), dark], paused: false, now: t2 });
  const byType = new Map(next.conditions?.map((c) => [c.type, c]));
  assert.equal(next.phase, 'Degraded');
  assert.equal(byType.get('Degraded')?.reason, 'RegionUnreachable');
  assert.equal(byType.get('Degraded')?.lastTransitionTime, t2.toISOString(), 'Degraded flipped');
  assert.equal(byType.get('Progressing')?.lastTransitionTime, t1.toISOString(), 'Progressing did not');
  assert.equal(next.regions?.find((r) => r.name === 'europe-west1')?.lastSyncTime, t1.toISOString());
  assert.equal(statusChanged(first, next), true);
});

test('an invalid spec keeps the regions as they were, reports every problem, and adds Paused when paused', () => {
  const first = computeStatus({ cluster: cluster(), problems: [], regions: [ready('us-east1', true), ready('europe-west1', true)], paused: false, now: t1 });
  const problems = [
    { field: 'spec.regions[1].name', reason: 'FieldValueDuplicate', message: "region 'us-east1' is already spec.regions[0]" },
    { field: 'spec.gateway.auth.jwtSecretRef.name', reason: 'SecretMissing', message: 'Secret "auth" not found in namespace "tenants"' },
  ];
  const next = computeStatus({ cluster: cluster(first, 4), problems, paused: true, now: t2 });
  const degraded = next.conditions?.find((c) => c.type === 'Degraded');
  assert.equal(next.phase, 'Degraded');
  assert.equal(degraded?.reason, 'FieldValueDuplicate');
  assert.match(degraded?.message ?? '', /spec\.regions\[1\]\.name: .*; spec\.gateway\.auth\.jwtSecretRef\.name: Secret "auth" not found/);
  assert.deepEqual(next.regions, first.regions);
  assert.equal(next.observedGeneration, 4);
  assert.equal(next.conditions?.find((c) => c.type === 'Paused')?.status, 'True');
});

test("AI today: the regions' provider mixes sum into status.ai.providers; a region held at zero pods in maintenance leaves the ceiling; a resync with the same load writes nothing", () => {
  const withAi = (status?: RealtimeCluster['status']): RealtimeCluster => {
    const base = cluster(status);
    return { ...base, spec: { ...base.spec, ai: { dailyBudgetUsd: 10, providers: [{ name: 'local' }] } } };
  };
  const day = '2026-11-25';
  const serving = (name: string, spent: number, openai: number, local: number): RegionObservation => ({
    ...ready(name, true),
    traffic: { aiDay: day, aiSpentTodayUsd: spent, aiProviders: [{ name: 'openai', requests: openai, spentUsd: spent }, { name: 'local', requests: local, spentUsd: 0 }] },
  });
  const first = computeStatus({ cluster: withAi(), problems: [], regions: [serving('us-east1', 1.5, 3, 1), serving('europe-west1', 0.5, 1, 5)], paused: false, now: t1 });
  assert.deepEqual(first.ai, {
    day,
    spentTodayUsd: 2,
    dailyBudgetUsd: 20,
    regionDailyBudgetUsd: 10,
    regionsReporting: 2,
    providers: [{ name: 'openai', requests: 4, spentUsd: 2 }, { name: 'local', requests: 6, spentUsd: 0 }],
  });
  assert.equal(first.regions?.some((r) => 'aiProviders' in r || 'aiDay' in r), false, 'the mix is a cluster figure, not a region field');
  const again = computeStatus({ cluster: withAi(first), problems: [], regions: [serving('us-east1', 1.5, 3, 1), serving('europe-west1', 0.5, 1, 5)], paused: false, now: t2 });
  assert.equal(statusChanged(first, again), false, 'the same figures on the next load round: no write');

  // europe-west1 in maintenance at zero pods: no pod reports its tally, and it cannot spend.
  const held: RegionObservation = { name: 'europe-west1', phase: 'Ready', replicas: 0, readyReplicas: 0, desiredReplicas: 0, message: '0 pods', wrote: false, maintenance: { step: 'InMaintenance', message: '0 pods, objects kept' }, traffic: {} };
  const inMaintenance = computeStatus({ cluster: withAi(first), problems: [], regions: [serving('us-east1', 1.5, 3, 1), held], paused: false, now: t2 });
  assert.deepEqual(inMaintenance.ai, { day, spentTodayUsd: 1.5, dailyBudgetUsd: 10, regionDailyBudgetUsd: 10, regionsReporting: 1, providers: [{ name: 'openai', requests: 3, spentUsd: 1.5 }, { name: 'local', requests: 1, spentUsd: 0 }] });
  // Draining (pods still serving) still counts: those pods can spend.
  const draining = computeStatus({ cluster: withAi(first), problems: [], regions: [serving('us-east1', 1.5, 3, 1), { ...serving('europe-west1', 0.5, 1, 5), maintenance: { step: 'Draining', message: '2 pod(s) draining' } }], paused: false, now: t2 });
  assert.equal(draining.ai?.dailyBudgetUsd, 20);
});
