/**
 * The emulator's built-in controllers: Deployments get Pods through a PodRunner, scale and roll;
 * status follows readiness; plus the other built-in kinds an operator writes (Lease, Event, PDB).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './helpers/net.ts';
import { deployment, mergePatch, startSandbox, statusOf, type Sandbox } from './helpers/apiserver.ts';
import { createServer, type Server } from 'node:http';
import type { PodRunner, RunningPod } from '../sandbox/apiserver/index.ts';

/** A runner whose Pods become Ready only when the test says so. */
function manualRunner() {
  const started = new Map<string, (ready: boolean) => void>();
  const stopped: string[] = [];
  const runner: PodRunner = {
    start(pod, onReady) {
      const name = (pod as k8s.V1Pod).metadata!.name!;
      started.set(name, onReady);
      return {
        async stop() {
          stopped.push(name);
        },
      };
    },
  };
  return { runner, started, stopped };
}

const podsOf = async (sb: Sandbox, app: string) => (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: `app=${app}` })).items.filter((p) => !p.metadata!.deletionTimestamp);

describe('deployments with the default runner', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'controllers', readyDelayMs: 20 });
  });
  after(() => sb.close());

  const readDeploy = (name: string) => sb.apps.readNamespacedDeployment({ namespace: 'default', name });

  test('a Deployment gets its Pods, owned and named after it, and status follows readiness', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('web', 3) });
    const ready = await waitFor(async () => {
      const d = await readDeploy('web');
      return d.status?.readyReplicas === 3 ? d : undefined;
    }, { what: 'three ready replicas' });
    assert.equal(ready.status!.replicas, 3);
    assert.equal(ready.status!.updatedReplicas, 3);
    assert.equal(ready.status!.availableReplicas, 3);
    assert.equal(ready.status!.observedGeneration, 1);
    assert.equal(ready.metadata!.annotations!['deployment.kubernetes.io/revision'], '1');
    const [rs, ...others] = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=web' })).items;
    assert.equal(others.length, 0, 'one ReplicaSet per template');
    const hash = rs.metadata!.labels!['pod-template-hash'];
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.equal(rs.metadata!.name, `web-${hash}`);
    assert.equal(rs.metadata!.ownerReferences![0].uid, ready.metadata!.uid);
    assert.equal(rs.metadata!.ownerReferences![0].controller, true);
    assert.equal(rs.metadata!.annotations!['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(rs.spec!.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(rs.status!.readyReplicas, 3);
    const pods = await podsOf(sb, 'web');
    assert.equal(pods.length, 3);
    for (const pod of pods) {
      assert.match(pod.metadata!.name!, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      assert.equal(pod.metadata!.labels!['pod-template-hash'], hash);
      assert.equal(pod.metadata!.ownerReferences![0].uid, rs.metadata!.uid);
      assert.equal(pod.metadata!.ownerReferences![0].kind, 'ReplicaSet');
      assert.equal(pod.metadata!.ownerReferences![0].controller, true);
      assert.equal(pod.status!.phase, 'Running');
      assert.ok(pod.status!.podIP);
    }
  });

  test('scaling through /scale removes Pods; status follows', async () => {
    const scale = await sb.apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'web', body: { spec: { replicas: 1 } } }, mergePatch);
    assert.equal(scale.spec!.replicas, 1);
    await waitFor(async () => (await podsOf(sb, 'web')).length === 1 && (await readDeploy('web')).status?.replicas === 1, { what: 'scaled down to one' });
    const read = await sb.apps.readNamespacedDeploymentScale({ namespace: 'default', name: 'web' });
    assert.equal(read.status!.replicas, 1);
    assert.equal(read.status!.selector, 'app=web');
  });

  test('a template change rolls the Pods to the new template', async () => {
    const before = (await podsOf(sb, 'web')).map((p) => p.metadata!.name);
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'web', body: { spec: { replicas: 2, template: { metadata: { annotations: { rev: '2' } } } } } }, mergePatch);
    const rolled = await waitFor(async () => {
      const d = await readDeploy('web');
      const pods = await podsOf(sb, 'web');
      const done = d.status?.observedGeneration === d.metadata!.generation && d.status?.updatedReplicas === 2 && d.status?.readyReplicas === 2 && pods.length === 2;
      return done ? { d, pods } : undefined;
    }, { what: 'rollout complete' });
    assert.ok(rolled.pods.every((p) => !before.includes(p.metadata!.name) && p.metadata!.annotations?.rev === '2'));
    const events = await sb.core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.kind=Deployment,involvedObject.name=web' });
    const messages = events.items.map((e) => `${e.reason}: ${e.message}`);
    const revision2 = (await sb.apps.listNamespacedReplicaSet({ namespace: 'default', labelSelector: 'app=web' })).items.find((r) => r.metadata!.annotations!['deployment.kubernetes.io/revision'] === '2')!;
    assert.ok(messages.includes(`ScalingReplicaSet: Scaled up replica set ${revision2.metadata!.name} from 0 to 2`), messages.join('\n'));
    assert.ok(messages.some((m) => /^ScalingReplicaSet: Scaled down replica set web-\w+ from 1 to 0$/.test(m)), messages.join('\n'));
    assert.equal(rolled.d.metadata!.annotations!['deployment.kubernetes.io/revision'], '2');
    assert.equal(rolled.d.status!.conditions!.find((c) => c.type === 'Available')!.status, 'True');
  });

  test('pods/proxy to a Pod whose runner serves no HTTP is 503', async () => {
    const [pod] = await podsOf(sb, 'web');
    const response = await sb.raw('GET', `/api/v1/namespaces/default/pods/${pod.metadata!.name}/proxy/loadz`);
    assert.equal(response.status, 503);
    assert.match(response.body.message, /^error trying to reach service: /);
  });

  test('deleting the Deployment collects its Pods', async () => {
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'web' });
    await waitFor(async () => (await sb.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items.length === 0, { what: 'pods collected' });
  });
});

describe('a pluggable pod runner', () => {
  const manual = manualRunner();
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'runner', podRunner: manual.runner });
  });
  after(() => sb.close());

  test('readiness comes from the runner, and stopped Pods are stopped in the runner', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('gw', 2) });
    await waitFor(() => manual.started.size === 2, { what: 'two pods started' });
    const d = await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'gw' });
    assert.equal(d.status?.readyReplicas ?? 0, 0, 'nothing ready until the runner says so');
    const [first] = manual.started.keys();
    manual.started.get(first)!(true);
    await waitFor(async () => (await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'gw' })).status?.readyReplicas === 1, { what: 'one ready' });
    manual.started.get(first)!(false);
    await waitFor(async () => !(await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'gw' })).status?.readyReplicas, { what: 'not ready again' });
    await sb.apps.patchNamespacedDeploymentScale({ namespace: 'default', name: 'gw', body: { spec: { replicas: 0 } } }, mergePatch);
    await waitFor(() => manual.stopped.length === 2, { what: 'runner stopped both pods' });
  });
});

describe('graceful Pod deletion', () => {
  let release: (() => void) | undefined;
  const slowStop: PodRunner = {
    start(_pod, onReady) {
      setImmediate(() => onReady(true));
      return { stop: () => new Promise<void>((resolve) => (release = resolve)) };
    },
  };
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'graceful', podRunner: slowStop });
  });
  after(() => sb.close());

  const createPod = (name: string) => sb.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } });
  const exists = async (name: string) => (await sb.raw('GET', `/api/v1/namespaces/default/pods/${name}`)).status === 200;

  test('a deleted Pod stays Terminating until its runner has stopped it', async () => {
    await createPod('slow');
    await waitFor(async () => (await sb.core.readNamespacedPod({ namespace: 'default', name: 'slow' })).status?.phase === 'Running', { what: 'running' });
    const response = await sb.raw('DELETE', '/api/v1/namespaces/default/pods/slow');
    assert.equal(response.status, 200);
    assert.equal(response.body.metadata.deletionGracePeriodSeconds, 30);
    await waitFor(() => release !== undefined, { what: 'runner asked to stop' });
    const table = await sb.raw('GET', '/api/v1/namespaces/default/pods/slow', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.equal(table.body.rows[0].cells[2], 'Terminating');
    release!();
    await waitFor(async () => !(await exists('slow')), { what: 'removed after the runner stopped' });
  });

  test('gracePeriodSeconds=0 removes the Pod at once', async () => {
    await createPod('now');
    await sb.core.deleteNamespacedPod({ namespace: 'default', name: 'now', gracePeriodSeconds: 0 });
    assert.equal(await exists('now'), false);
  });
});

describe('pods/proxy', () => {
  const servers: Server[] = [];
  /** Each Pod serves /loadz on its own loopback port, as a gateway process would. */
  const httpRunner: PodRunner = {
    start(pod, onReady) {
      const name = (pod as k8s.V1Pod).metadata!.name!;
      const handle: RunningPod = { stop: async () => void server.close() };
      const server = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ pod: name, path: req.url, connections: 42, auth: req.headers.authorization ?? null }));
      });
      servers.push(server);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (address && typeof address === 'object') handle.url = `http://127.0.0.1:${address.port}`;
        onReady(true);
      });
      return handle;
    },
  };
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'proxy', podRunner: httpRunner });
  });
  after(async () => {
    await sb.close();
    for (const server of servers) server.close();
  });

  test('reaches the Pod\'s HTTP server through the API, without leaking the cluster token', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('gw', 1) });
    await waitFor(async () => (await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'gw' })).status?.readyReplicas === 1, { what: 'pod ready' });
    const [pod] = await podsOf(sb, 'gw');
    const name = pod.metadata!.name!;
    const body: unknown = await sb.core.connectGetNamespacedPodProxyWithPath({ namespace: 'default', name, path: 'loadz' });
    const load = typeof body === 'string' ? JSON.parse(body) : body;
    assert.deepEqual(load, { pod: name, path: '/loadz', connections: 42, auth: null });
    const withQuery = await sb.raw('GET', `/api/v1/namespaces/default/pods/${name}:8080/proxy/metrics/x?format=json`);
    assert.equal(withQuery.body.path, '/metrics/x?format=json');
  });

  test('a missing Pod is 404', async () => {
    const missing = await sb.raw('GET', '/api/v1/namespaces/default/pods/nope/proxy/loadz');
    assert.equal(missing.status, 404);
  });
});

describe('other kinds operators write', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ name: 'kinds' });
  });
  after(() => sb.close());

  test('Leases: acquire, renew with the resourceVersion, and a stale renew conflicts', async () => {
    const lease = await sb.coordination.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const renewed = await sb.coordination.replaceNamespacedLease({ namespace: 'default', name: 'leader', body: { ...lease, spec: { ...lease.spec, renewTime: new k8s.V1MicroTime() } } });
    assert.notEqual(renewed.metadata!.resourceVersion, lease.metadata!.resourceVersion);
    await assert.rejects(sb.coordination.replaceNamespacedLease({ namespace: 'default', name: 'leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } }), (error) => statusOf(error) === 409);
  });

  test('Events (core/v1 and events.k8s.io/v1) are stored and found by involved object', async () => {
    await sb.core.createNamespacedEvent({
      namespace: 'default',
      body: { metadata: { name: 'rtc.1' }, involvedObject: { kind: 'RealtimeCluster', name: 'demo', namespace: 'default' }, reason: 'Reconciled', message: 'all regions ready', type: 'Normal' },
    });
    await sb.core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'other.1' }, involvedObject: { kind: 'Pod', name: 'x' }, reason: 'Other', type: 'Warning' } });
    const events = await sb.core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=demo' });
    assert.deepEqual(events.items.map((e) => e.reason), ['Reconciled']);
    const modern = await sb.raw('POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
      body: { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'rtc.2' }, regarding: { kind: 'RealtimeCluster', name: 'demo' }, reason: 'Scaled', note: 'to 3', type: 'Normal', action: 'Scale', eventTime: new Date().toISOString(), reportingController: 'meridian', reportingInstance: 'x' },
    });
    assert.equal(modern.status, 201);
  });

  test('PodDisruptionBudgets are stored with a generation', async () => {
    const pdb = await sb.policy.createNamespacedPodDisruptionBudget({ namespace: 'default', body: { metadata: { name: 'gw' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'gw' } } } } });
    assert.equal(pdb.metadata!.generation, 1);
    const stored = await sb.policy.readNamespacedPodDisruptionBudget({ namespace: 'default', name: 'gw' });
    assert.equal(stored.spec!.minAvailable, 1);
  });

  test('Services get a cluster IP and defaulted ports; ServiceAccounts are stored', async () => {
    const svc = await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'gw' }, spec: { selector: { app: 'gw' }, ports: [{ name: 'ws', port: 80, targetPort: 8080 }] } } });
    assert.match(svc.spec!.clusterIP!, /^10\.96\./);
    assert.equal(svc.spec!.ports![0].protocol, 'TCP');
    const sa = await sb.core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'gw' } } });
    const stored = await sb.core.readNamespacedServiceAccount({ namespace: 'default', name: 'gw' });
    assert.equal(stored.metadata!.uid, sa.metadata!.uid);
  });
});
