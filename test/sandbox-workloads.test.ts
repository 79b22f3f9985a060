/**
 * Workload semantics a controller relies on, against the API emulator through client-node:
 * which Pods a ReplicaSet removes first, what a PodDisruptionBudget allows, Pods' status from
 * their creation on, and garbage collection through Deployments, ReplicaSets and Pods.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { deployment, mergePatch, startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { waitFor } from './helpers/net.ts';
import { manualRunner } from './helpers/pod-runners.ts';
import { inDeletionOrder } from '../sandbox/apiserver/controllers/pod-state.ts';

const COST = 'controller.kubernetes.io/pod-deletion-cost';
const alive = async (sb: Sandbox, app: string) => (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${app}` })).items.filter((p) => !p.metadata!.deletionTimestamp);
const readyCount = async (sb: Sandbox, name: string) => (await sb.apps.readNamespacedDeployment({ namespace: 'default', name })).status?.readyReplicas ?? 0;

describe('ReplicaSet scale-down order', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'scale-down', podRunner: manual.runner });
  });
  after(() => sb.close());

  const annotate = (name: string, cost: string) => sb.core.patchNamespacedPod({ namespace: 'default', name, body: { metadata: { annotations: { [COST]: cost } } } }, mergePatch);
  const scaleTo = (name: string, replicas: number) => sb.apps.patchNamespacedDeploymentScale({ namespace: 'default', name, body: { spec: { replicas } } }, mergePatch);

  test('the lowest pod-deletion-cost goes first among Ready Pods; a Pod that is not Ready goes before any of them', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('cost', 5) });
    await waitFor(async () => (await alive(sb, 'cost')).length === 5 && manual.started.size === 5, { what: 'five Pods started' });
    // Listed by name; costs run against that order, so that without them the later tie-breakers
    // (ready time, creation, then list order) would keep other Pods.
    const names = (await alive(sb, 'cost')).map((p) => p.metadata!.name!);
    const [unready, dearest, dear, free, cheap] = names;
    for (const name of names.filter((n) => n !== unready)) manual.started.get(name)!(true);
    await waitFor(async () => (await readyCount(sb, 'cost')) === 4, { what: 'four Ready' });
    await annotate(unready, '1000');
    await annotate(cheap, '-5');
    await annotate(dear, '50');
    await annotate(dearest, '100');
    // `free` has no annotation: cost 0.

    await scaleTo('cost', 4);
    await waitFor(async () => (await alive(sb, 'cost')).length === 4, { what: 'scaled to 4' });
    assert.ok(!(await alive(sb, 'cost')).some((p) => p.metadata!.name === unready), 'the not-Ready Pod went first despite its cost');

    await scaleTo('cost', 2);
    await waitFor(async () => (await alive(sb, 'cost')).length === 2, { what: 'scaled to 2' });
    assert.deepEqual((await alive(sb, 'cost')).map((p) => p.metadata!.name).sort(), [dear, dearest].sort(), `kept the two dearest; ${cheap} (-5) and ${free} (0) went`);
  });

  test('an unassigned Pod goes before an assigned one, whatever their costs; a matching orphan Pod is adopted', async () => {
    await scaleTo('cost', 1);
    await waitFor(async () => (await alive(sb, 'cost')).length === 1, { what: 'scaled to 1' });
    const [own] = await alive(sb, 'cost');
    const [rs] = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=cost' })).items;
    const hash = rs.metadata!.labels!['pod-template-hash'];
    // An orphan with the ReplicaSet's labels, on a node, and cheaper to delete: the ReplicaSet
    // adopts it, has one Pod too many, and removes its own unassigned Pod.
    await sb.core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'placed', labels: { app: 'cost', 'pod-template-hash': hash }, annotations: { [COST]: '-100' } }, spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'nginx:1.27' }] } },
    });
    await waitFor(async () => (await alive(sb, 'cost')).map((p) => p.metadata!.name).join() === 'placed', { what: 'the assigned orphan kept' });
    assert.ok(own.metadata!.annotations?.[COST] === '100', 'the removed Pod had the higher cost');
    const placed = await sb.core.readNamespacedPod({ namespace: 'default', name: 'placed' });
    assert.equal(placed.metadata!.ownerReferences![0].uid, rs.metadata!.uid);
    assert.equal(placed.metadata!.ownerReferences![0].controller, true);
  });
});

describe('the scale-down ranking, tier by tier', () => {
  // Tiers a scenario cannot stage without a scheduler or a clock (phase, restarts, creation time),
  // checked on the ranking the ReplicaSet controller uses.
  const now = Date.parse('2026-11-01T12:00:00Z');
  const pod = (name: string, o: { node?: string; phase?: string; readySince?: string; cost?: string; restarts?: number; created?: string } = {}) => ({
    metadata: { name, uid: name, creationTimestamp: o.created ?? '2026-11-01T10:00:00Z', ...(o.cost ? { annotations: { [COST]: o.cost } } : {}) },
    spec: o.node ? { nodeName: o.node } : {},
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.readySince ? 'True' : 'False', lastTransitionTime: o.readySince ?? '2026-11-01T10:00:00Z' }],
      containerStatuses: [{ name: 'main', restartCount: o.restarts ?? 0 }],
    },
  });
  const order = (...pods: ReturnType<typeof pod>[]) => inDeletionOrder(pods, now).map((p) => p.metadata.name);
  const ready = '2026-11-01T11:00:00Z';

  test('unassigned, then Pending < Unknown < Running, then not Ready, then cost, ready time, restarts, age', () => {
    assert.deepEqual(order(pod('assigned', { node: 'n', readySince: ready }), pod('unassigned', { readySince: ready })), ['unassigned', 'assigned']);
    assert.deepEqual(order(pod('running'), pod('unknown', { phase: 'Unknown' }), pod('pending', { phase: 'Pending' })), ['pending', 'unknown', 'running']);
    assert.deepEqual(order(pod('ready', { readySince: ready }), pod('unready', { cost: '9999' })), ['unready', 'ready']);
    assert.deepEqual(order(pod('dear', { readySince: ready, cost: '10' }), pod('cheap', { readySince: ready, cost: '-10' }), pod('zero', { readySince: ready, cost: 'not-a-number' })), ['cheap', 'zero', 'dear']);
    assert.deepEqual(order(pod('long', { readySince: '2026-11-01T08:00:00Z' }), pod('recent', { readySince: '2026-11-01T11:59:00Z' })), ['recent', 'long']);
    assert.deepEqual(order(pod('calm', { readySince: ready }), pod('crashy', { readySince: ready, restarts: 3 })), ['crashy', 'calm']);
    assert.deepEqual(order(pod('old', { readySince: ready }), pod('new', { readySince: ready, created: '2026-11-01T10:30:00Z' })), ['new', 'old']);
  });
});

describe('PodDisruptionBudget status', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'pdb', podRunner: manual.runner });
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('gw', 3) });
    await waitFor(() => manual.started.size === 3, { what: 'three Pods started' });
    for (const report of manual.started.values()) report(true);
    await waitFor(async () => (await readyCount(sb, 'gw')) === 3, { what: 'three Ready' });
  });
  after(() => sb.close());

  const budget = async (name: string, spec: Partial<k8s.V1PodDisruptionBudgetSpec>) => {
    await sb.policy.createNamespacedPodDisruptionBudget({ namespace: 'default', body: { metadata: { name }, spec: { selector: { matchLabels: { app: 'gw' } }, ...spec } } });
    return waitFor(async () => {
      const pdb = await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name });
      return pdb.status?.observedGeneration === pdb.metadata!.generation ? pdb.status : undefined;
    }, { what: `${name} status` });
  };
  const counts = (s: k8s.V1PodDisruptionBudgetStatus) => ({ disruptionsAllowed: s.disruptionsAllowed, currentHealthy: s.currentHealthy, desiredHealthy: s.desiredHealthy, expectedPods: s.expectedPods });

  test('minAvailable and maxUnavailable, as integers and percentages (rounded up), on 3 Ready Pods', async () => {
    assert.deepEqual(counts(await budget('min-1', { minAvailable: 1 })), { disruptionsAllowed: 2, currentHealthy: 3, desiredHealthy: 1, expectedPods: 3 });
    assert.deepEqual(counts(await budget('min-half', { minAvailable: '50%' })), { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 });
    assert.deepEqual(counts(await budget('max-1', { maxUnavailable: 1 })), { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 });
    assert.deepEqual(counts(await budget('max-half', { maxUnavailable: '50%' })), { disruptionsAllowed: 2, currentHealthy: 3, desiredHealthy: 1, expectedPods: 3 });
    const all = await budget('min-3', { minAvailable: 3 });
    assert.equal(all.disruptionsAllowed, 0);
    const condition = all.conditions!.find((c) => c.type === 'DisruptionAllowed')!;
    assert.deepEqual([condition.status, condition.reason], ['False', 'InsufficientPods']);
    const some = await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name: 'min-1' });
    assert.deepEqual([some.status!.conditions![0].status, some.status!.conditions![0].reason], ['True', 'SufficientPods']);
  });

  test('a Pod that stops being Ready lowers currentHealthy and what is allowed; the expected count follows the Deployment', async () => {
    const [first] = manual.started.values();
    first(false);
    await waitFor(async () => (await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name: 'min-1' })).status?.currentHealthy === 2, { what: 'two healthy' });
    const minOne = await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name: 'min-1' });
    assert.equal(minOne.status!.disruptionsAllowed, 1, 'minAvailable 1 with 2 Ready Pods allows one disruption');
    await sb.apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'gw', body: { spec: { replicas: 4 } } }, mergePatch);
    const maxOne = await waitFor(async () => {
      const pdb = await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name: 'max-1' });
      return pdb.status?.expectedPods === 4 ? pdb.status : undefined;
    }, { what: 'expected pods from the Deployment scale' });
    assert.equal(maxOne.desiredHealthy, 3);
  });
});

describe('Pod status', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'pod-status', podRunner: manual.runner });
  });
  after(() => sb.close());

  const create = (name: string, resources?: k8s.V1ResourceRequirements) =>
    sb.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name }, spec: { containers: [{ name: 'main', image: 'ghcr.io/acme/gw:1.2', ...(resources ? { resources } : {}) }] } } });

  test('a new Pod is Pending with the QoS class Kubernetes computes', async () => {
    const best = await create('best-effort');
    assert.deepEqual({ ...best.status }, { phase: 'Pending', qosClass: 'BestEffort' }, 'nothing else until the kubelet reports');
    assert.equal((await create('guaranteed', { limits: { cpu: '500m', memory: '256Mi' } })).status!.qosClass, 'Guaranteed');
    assert.equal((await create('guaranteed-equal', { requests: { cpu: '0.5', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } })).status!.qosClass, 'Guaranteed');
    assert.equal((await create('burstable', { requests: { cpu: '100m' } })).status!.qosClass, 'Burstable');
    assert.equal((await create('burstable-lower', { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } })).status!.qosClass, 'Burstable');
  });

  test('once running: container statuses with image and container IDs, restarts from the runner, and an IP', async () => {
    await waitFor(() => manual.started.has('guaranteed'), { what: 'runner started the Pod' });
    const running = await sb.core.readNamespacedPod({ namespace: 'default', name: 'guaranteed' });
    assert.equal(running.status!.phase, 'Running');
    assert.equal(running.status!.qosClass, 'Guaranteed', 'the QoS class stays');
    assert.match(running.status!.podIP!, /^10\.244\.\d+\.\d+$/);
    const [container] = running.status!.containerStatuses!;
    assert.equal(container.image, 'ghcr.io/acme/gw:1.2');
    assert.match(container.imageID, /^ghcr\.io\/acme\/gw@sha256:[0-9a-f]{64}$/);
    assert.match(container.containerID!, /^containerd:\/\/[0-9a-f]{64}$/);
    assert.deepEqual([container.ready, container.started, container.restartCount], [false, true, 0]);
    assert.ok(container.state!.running!.startedAt);

    manual.started.get('guaranteed')!(true, { restartCount: 2 });
    const ready = await waitFor(async () => {
      const pod = await sb.core.readNamespacedPod({ namespace: 'default', name: 'guaranteed' });
      return pod.status!.containerStatuses![0].ready ? pod : undefined;
    }, { what: 'ready' });
    assert.equal(ready.status!.containerStatuses![0].restartCount, 2);
    assert.notEqual(ready.status!.containerStatuses![0].containerID, container.containerID, 'a restarted container has a new ID');
    assert.equal(ready.status!.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
  });
});

describe('garbage collection of workloads', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'gc', podRunner: manual.runner });
  });
  after(async () => {
    manual.releaseStops();
    await sb.close();
  });

  const exists = async (path: string) => (await sb.raw('GET', path)).status === 200;

  test('a dependent created after its only owner was deleted is collected', async () => {
    const owner = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gone-owner' } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'gone-owner' });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'gone-owner', uid: owner.metadata!.uid! };
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'late-child', ownerReferences: [ref] } } });
    await waitFor(async () => !(await exists('/api/v1/namespaces/default/configmaps/late-child')), { what: 'late dependent collected' });
    // A new owner of the same name is another object: the reference's uid decides.
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gone-owner' } } });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'stale-ref-child', ownerReferences: [ref] } } });
    await waitFor(async () => !(await exists('/api/v1/namespaces/default/configmaps/stale-ref-child')), { what: 'dependent of a recreated owner collected' });
  });

  const startDeployment = async (name: string) => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment(name, 2) });
    await waitFor(async () => (await alive(sb, name)).length === 2, { what: `${name} Pods` });
    return (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: `app=${name}` })).items[0];
  };

  test('Background: the Deployment goes at once, then its ReplicaSet and Pods', async () => {
    const rs = await startDeployment('bg');
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'bg', propagationPolicy: 'Background' });
    assert.equal(await exists('/apis/apps/v1/namespaces/default/deployments/bg'), false);
    await waitFor(async () => !(await exists(`/apis/apps/v1/namespaces/default/replicasets/${rs.metadata!.name}`)) && (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=bg' })).items.length === 0, { what: 'ReplicaSet and Pods collected' });
  });

  test('Foreground: the Deployment stays until its ReplicaSet and Pods are gone', async () => {
    const rs = await startDeployment('fg');
    manual.holdStops();
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'fg', propagationPolicy: 'Foreground' });
    await waitFor(async () => (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=fg' })).items.every((p) => p.metadata!.deletionTimestamp), { what: 'Pods terminating' });
    const held = await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'fg' });
    assert.ok(held.metadata!.deletionTimestamp);
    assert.deepEqual(held.metadata!.finalizers, ['foregroundDeletion']);
    assert.ok(await exists(`/apis/apps/v1/namespaces/default/replicasets/${rs.metadata!.name}`), 'the ReplicaSet waits for its Pods');
    manual.releaseStops();
    await waitFor(async () => !(await exists('/apis/apps/v1/namespaces/default/deployments/fg')), { what: 'Deployment removed last' });
    assert.equal((await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=fg' })).items.length, 0);
    assert.equal(await exists(`/apis/apps/v1/namespaces/default/replicasets/${rs.metadata!.name}`), false);
  });

  test('Orphan: the ReplicaSet loses its owner and keeps its Pods', async () => {
    const rs = await startDeployment('orphan');
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'orphan', propagationPolicy: 'Orphan' });
    await waitFor(async () => !(await exists('/apis/apps/v1/namespaces/default/deployments/orphan')), { what: 'Deployment gone' });
    const kept = await sb.apps.readNamespacedReplicaSet({ namespace: 'default', name: rs.metadata!.name! });
    assert.equal(kept.metadata!.ownerReferences, undefined);
    const pods = await alive(sb, 'orphan');
    assert.equal(pods.length, 2);
    assert.ok(pods.every((p) => p.metadata!.ownerReferences![0].uid === rs.metadata!.uid));
  });
});
