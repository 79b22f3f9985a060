/**
 * Deployment rollouts in the API emulator are Kubernetes rollouts: a watch on the Pods records
 * every state the cluster went through, and the scenario checks the bounds a real cluster keeps
 * (RollingUpdate within maxSurge/maxUnavailable, Recreate without overlap, minReadySeconds).
 * "Alive" means not being deleted, as the Deployment's own status.replicas counts Pods.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { deployment, mergePatch, startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { waitFor } from './helpers/net.ts';
import { manualRunner } from './helpers/pod-runners.ts';

const isReady = (p: k8s.V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const hashOf = (p: k8s.V1Pod) => p.metadata!.labels!['pod-template-hash'];

interface Moment {
  alive: k8s.V1Pod[];
  terminating: k8s.V1Pod[];
}

/** Follows the Pods of one app through a watch and keeps every state it passes through. */
async function recordPods(sb: Sandbox, app: string) {
  const list = await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${app}` });
  const pods = new Map<string, k8s.V1Pod>(list.items.map((p) => [p.metadata!.name!, p]));
  const moments: Moment[] = [];
  const snapshot = () => {
    const all = [...pods.values()];
    moments.push({ alive: all.filter((p) => !p.metadata!.deletionTimestamp), terminating: all.filter((p) => p.metadata!.deletionTimestamp) });
  };
  snapshot();
  let failure: unknown;
  const watch = await new k8s.Watch(sb.kc).watch(
    '/api/v1/namespaces/default/pods',
    { labelSelector: `app=${app}`, resourceVersion: list.metadata!.resourceVersion },
    (type, pod: k8s.V1Pod) => {
      if (type === 'DELETED') pods.delete(pod.metadata!.name!);
      else pods.set(pod.metadata!.name!, pod);
      snapshot();
    },
    (error) => (failure = error),
  );
  return {
    moments,
    latest: () => moments[moments.length - 1],
    stop: () => {
      watch.abort();
      assert.equal(failure ?? null, null, 'the watch ended early');
    },
  };
}

async function waitRolledOut(sb: Sandbox, name: string, replicas: number) {
  return waitFor(async () => {
    const d = await sb.apps.readNamespacedDeployment({ namespace: 'default', name });
    const s = d.status ?? {};
    const done = s.observedGeneration === d.metadata!.generation && s.updatedReplicas === replicas && s.replicas === replicas && s.availableReplicas === replicas;
    return done ? d : undefined;
  }, { what: `${name} rolled out`, timeoutMs: 30_000 });
}

describe('RollingUpdate', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'rolling', readyDelayMs: 30 });
  });
  after(() => sb.close());

  test('4 replicas at 25 %/25 %: never more than 5 Pods alive, never fewer than 3 Ready', async () => {
    const body = deployment('roll', 4, 'gw:1');
    body.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body });
    await waitRolledOut(sb, 'roll', 4);
    const recorder = await recordPods(sb, 'roll');
    const oldHash = hashOf(recorder.latest().alive[0]);

    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'roll', body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'gw:2' }] } } } } }, mergePatch);
    const done = await waitRolledOut(sb, 'roll', 4);
    await waitFor(() => {
      const { alive, terminating } = recorder.latest();
      return alive.length === 4 && terminating.length === 0 && alive.every((p) => hashOf(p) !== oldHash && isReady(p));
    }, { what: 'the watch sees only four new Ready Pods' });
    recorder.stop();

    const moments = recorder.moments;
    const maxAlive = Math.max(...moments.map((m) => m.alive.length));
    const minReady = Math.min(...moments.map((m) => m.alive.filter(isReady).length));
    assert.ok(maxAlive <= 5, `at most replicas + maxSurge = 5 Pods alive; saw ${maxAlive}`);
    assert.ok(minReady >= 3, `at least replicas - maxUnavailable = 3 Pods Ready; saw ${minReady}`);
    assert.ok(moments.some((m) => m.alive.some((p) => hashOf(p) === oldHash) && m.alive.some((p) => hashOf(p) !== oldHash)), 'old and new Pods served side by side');

    const sets = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=roll' })).items;
    const byRevision = new Map(sets.map((rs) => [rs.metadata!.annotations!['deployment.kubernetes.io/revision'], rs]));
    assert.equal(byRevision.get('1')!.spec!.replicas, 0, 'the old ReplicaSet is kept at 0 for rollback');
    assert.equal(byRevision.get('2')!.spec!.replicas, 4);
    const progressing = done.status!.conditions!.find((c) => c.type === 'Progressing')!;
    assert.equal(progressing.reason, 'NewReplicaSetAvailable');
    assert.equal(progressing.message, `ReplicaSet "${byRevision.get('2')!.metadata!.name}" has successfully progressed.`);
    assert.equal(done.status!.conditions!.find((c) => c.type === 'Available')!.reason, 'MinimumReplicasAvailable');
  });

  test('revisionHistoryLimit: ReplicaSets beyond the limit are deleted, oldest revision first', async () => {
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'roll', body: { spec: { revisionHistoryLimit: 1, template: { spec: { containers: [{ name: 'main', image: 'gw:3' }] } } } } }, mergePatch);
    await waitRolledOut(sb, 'roll', 4);
    const revisions = await waitFor(async () => {
      const sets = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=roll' })).items;
      const names = sets.map((rs) => rs.metadata!.annotations!['deployment.kubernetes.io/revision']).sort();
      return names.length === 2 ? names : undefined;
    }, { what: 'one old ReplicaSet kept' });
    assert.deepEqual(revisions, ['2', '3']);
  });

  test('kubectl-style scale through /scale keeps working and moves the ReplicaSet', async () => {
    await sb.apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'roll', body: { spec: { replicas: 2 } } }, mergePatch);
    await waitRolledOut(sb, 'roll', 2);
    const sets = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=roll' })).items;
    assert.equal(sets.find((rs) => rs.metadata!.annotations!['deployment.kubernetes.io/revision'] === '3')!.spec!.replicas, 2);
    const scale = await sb.apps.readNamespacedReplicaSetScale({ namespace: 'default', name: sets[0].metadata!.name! });
    assert.equal(scale.status!.selector, `app=roll,pod-template-hash=${sets[0].metadata!.labels!['pod-template-hash']}`);
  });
});

describe('Recreate', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'recreate', podRunner: manual.runner });
  });
  after(async () => {
    manual.releaseStops();
    await sb.close();
  });

  const readyAll = () => {
    for (const report of manual.started.values()) report(true);
  };

  test('no new Pod exists until every old Pod, Terminating ones included, is gone', async () => {
    const body = deployment('rec', 3, 'gw:1');
    body.spec!.strategy = { type: 'Recreate' };
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body });
    await waitFor(() => manual.started.size === 3, { what: 'three Pods started' });
    readyAll();
    await waitRolledOut(sb, 'rec', 3);
    const recorder = await recordPods(sb, 'rec');
    const oldHash = hashOf(recorder.latest().alive[0]);

    manual.holdStops();
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'rec', body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'gw:2' }] } } } } }, mergePatch);
    await waitFor(() => manual.stopped.length === 3, { what: 'the runner asked to stop the three old Pods' });
    const whileStopping = (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=rec' })).items;
    assert.equal(whileStopping.length, 3, 'only the old Pods exist while they terminate');
    assert.ok(whileStopping.every((p) => p.metadata!.deletionTimestamp && hashOf(p) === oldHash));
    const during = await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'rec' });
    assert.equal(during.status!.conditions!.find((c) => c.type === 'Available')!.status, 'False', 'Recreate allows no availability during the switch');

    manual.releaseStops();
    await waitFor(() => manual.started.size === 6, { what: 'three new Pods started' });
    readyAll();
    await waitRolledOut(sb, 'rec', 3);
    await waitFor(() => recorder.latest().alive.length === 3 && recorder.latest().alive.every((p) => hashOf(p) !== oldHash), { what: 'the watch sees the new Pods' });
    recorder.stop();
    const overlap = recorder.moments.filter((m) => {
      const pods = [...m.alive, ...m.terminating];
      return pods.some((p) => hashOf(p) === oldHash) && pods.some((p) => hashOf(p) !== oldHash);
    });
    assert.equal(overlap.length, 0, 'old and new Pods never existed at the same moment');
  });
});

describe('minReadySeconds', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'min-ready', readyDelayMs: 10 });
  });
  after(() => sb.close());

  test('an old Pod is removed only once its replacement has been Ready for minReadySeconds', async () => {
    const body = deployment('slow', 1, 'gw:1');
    body.spec!.minReadySeconds = 2;
    body.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body });
    await waitRolledOut(sb, 'slow', 1);
    const recorder = await recordPods(sb, 'slow');
    const [old] = recorder.latest().alive;

    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'slow', body: { spec: { template: { spec: { containers: [{ name: 'main', image: 'gw:2' }] } } } } }, mergePatch);
    await waitRolledOut(sb, 'slow', 1);
    await waitFor(() => recorder.moments.some((m) => m.terminating.some((p) => p.metadata!.uid === old.metadata!.uid)) || recorder.latest().alive.every((p) => p.metadata!.uid !== old.metadata!.uid), { what: 'the old Pod deleted' });
    recorder.stop();
    const deleted = recorder.moments.flatMap((m) => m.terminating).find((p) => p.metadata!.uid === old.metadata!.uid);
    assert.ok(deleted, 'the watch saw the old Pod terminating');
    const replacement = recorder.moments.flatMap((m) => m.alive).find((p) => hashOf(p) !== hashOf(old) && isReady(p))!;
    const readyAt = new Date(replacement.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime!).getTime();
    const deletedAt = new Date(deleted.metadata!.deletionTimestamp!).getTime();
    // Both are server timestamps at whole seconds; availability needs strictly more than 2 s of Ready.
    assert.ok(deletedAt >= readyAt + 2000, `old Pod deleted ${deletedAt - readyAt} ms after its replacement became Ready`);
    const rs = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=slow' })).items.find((r) => r.spec!.replicas === 1)!;
    assert.equal(rs.spec!.minReadySeconds, 2);
    assert.equal(rs.status!.availableReplicas, 1);
  });
});
