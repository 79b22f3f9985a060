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
