/**
 * Conformance of the API emulator's basic object semantics, through @kubernetes/client-node:
 * resourceVersion, conflicts, generation, status subresource, namespaces, selectors, paging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bodyOf, deployment, mergePatch, startSandbox, statusOf, type Sandbox } from './helpers/apiserver.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'crud' });
});
after(() => sb.close());

describe('resourceVersion and conflicts', () => {
  test('every write gets a new, larger resourceVersion; reads return the stored one', async () => {
    const created = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'rv' }, data: { a: '1' } } });
    const updated = await sb.core.replaceNamespacedConfigMap({ namespace: 'default', name: 'rv', body: { ...created, data: { a: '2' } } });
    assert.ok(Number(updated.metadata!.resourceVersion) > Number(created.metadata!.resourceVersion));
    const read = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'rv' });
    assert.equal(read.metadata!.resourceVersion, updated.metadata!.resourceVersion);
    assert.equal(read.metadata!.uid, created.metadata!.uid);
    assert.match(read.metadata!.creationTimestamp!.toISOString(), /^\d{4}-/);
  });

  test('a PUT with a stale resourceVersion is 409 Conflict, worded as kube-apiserver does', async () => {
    const first = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'stale' }, data: { a: '1' } } });
    await sb.core.replaceNamespacedConfigMap({ namespace: 'default', name: 'stale', body: { ...first, data: { a: '2' } } });
    await assert.rejects(sb.core.replaceNamespacedConfigMap({ namespace: 'default', name: 'stale', body: { ...first, data: { a: '3' } } }), (error) => {
      assert.equal(statusOf(error), 409);
      const status = bodyOf(error);
      assert.equal(status.reason, 'Conflict');
      assert.equal(status.message, 'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again');
      return true;
    });
  });

  test('an update that changes nothing writes nothing and keeps the resourceVersion', async () => {
    const created = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'same' }, data: { a: '1' } } });
    const again = await sb.core.replaceNamespacedConfigMap({ namespace: 'default', name: 'same', body: created });
    assert.equal(again.metadata!.resourceVersion, created.metadata!.resourceVersion);
  });

  test('creating an existing name is 409 AlreadyExists; reading a missing one is 404 NotFound', async () => {
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'dup' }, stringData: { k: 'v' } } });
    await assert.rejects(sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'dup' } } }), (error) => {
      assert.equal(statusOf(error), 409);
      assert.equal(bodyOf(error).reason, 'AlreadyExists');
      assert.equal(bodyOf(error).message, 'secrets "dup" already exists');
      return true;
    });
    await assert.rejects(sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'nope' }), (error) => {
      assert.equal(statusOf(error), 404);
      assert.equal(bodyOf(error).message, 'deployments.apps "nope" not found');
      return true;
    });
  });

  test('generateName gives a fresh name with a random suffix', async () => {
    const created = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' } } });
    assert.match(created.metadata!.name!, /^gen-[a-z0-9]{5}$/);
  });

  test('an invalid name is 422 Invalid naming metadata.name', async () => {
    await assert.rejects(sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Bad_Name' } } }), (error) => {
      assert.equal(statusOf(error), 422);
      const status = bodyOf(error);
      assert.equal(status.details.causes[0].field, 'metadata.name');
      assert.match(status.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
      return true;
    });
  });
});

describe('generation and the status subresource', () => {
  test('generation starts at 1 and moves with spec changes only', async () => {
    const created = await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('gen', 0) });
    assert.equal(created.metadata!.generation, 1);
    const labelled = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'gen', body: { metadata: { labels: { extra: 'yes' } } } }, mergePatch);
    assert.equal(labelled.metadata!.generation, 1, 'a metadata change does not bump generation');
    const scaled = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'gen', body: { spec: { replicas: 0, minReadySeconds: 5 } } }, mergePatch);
    assert.equal(scaled.metadata!.generation, 2);
  });

  test('main writes ignore status; /status writes ignore everything but status', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('sub', 0) });
    const main = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'sub', body: { status: { replicas: 99 }, spec: { paused: true } } }, mergePatch);
    assert.notEqual(main.status?.replicas, 99);
    assert.equal(main.spec!.paused, true);
    const status = await sb.apps.patchNamespacedDeploymentStatus({ namespace: 'default', name: 'sub', body: { status: { observedGeneration: 42 }, spec: { paused: false }, metadata: { labels: { hacked: 'yes' } } } }, mergePatch);
    assert.equal(status.status!.observedGeneration, 42);
    assert.equal(status.spec!.paused, true, 'spec untouched by a status write');
    assert.equal(status.metadata!.labels!.hacked, undefined, 'metadata untouched by a status write');
    assert.equal(status.metadata!.generation, main.metadata!.generation, 'status writes do not bump generation');
  });
});

describe('namespaces', () => {
  test('a namespaced object in a missing namespace is 404 naming the namespace', async () => {
    await assert.rejects(sb.core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'x' } } }), (error) => {
      assert.equal(statusOf(error), 404);
      assert.equal(bodyOf(error).message, 'namespaces "ghost" not found');
      return true;
    });
  });

  test('the same name lives in two namespaces; listing across namespaces sees both', async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'team-a' } } });
    await sb.core.createNamespace({ body: { metadata: { name: 'team-b' } } });
    for (const namespace of ['team-a', 'team-b']) await sb.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'shared', labels: { team: namespace } } } });
    const all = await sb.core.listConfigMapForAllNamespaces({ labelSelector: 'team' });
    assert.deepEqual(all.items.map((c) => `${c.metadata!.namespace}/${c.metadata!.name}`), ['team-a/shared', 'team-b/shared']);
    const one = await sb.core.listNamespacedConfigMap({ namespace: 'team-a' });
    assert.deepEqual(one.items.map((c) => c.metadata!.namespace), ['team-a']);
  });

  test('namespaces are cluster-scoped and start Active', async () => {
    const ns = await sb.core.readNamespace({ name: 'team-a' });
    assert.equal(ns.metadata!.namespace, undefined);
    assert.equal(ns.status!.phase, 'Active');
  });
});

describe('selectors and paging', () => {
  before(async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'sel' } } });
    const pods = [
      ['p1', { app: 'web', tier: 'front' }],
      ['p2', { app: 'web', tier: 'back' }],
      ['p3', { app: 'db' }],
      ['p4', {}],
    ] as const;
    for (const [name, labels] of pods) {
      await sb.core.createNamespacedPod({ namespace: 'sel', body: { metadata: { name, labels: { ...labels } }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } } });
    }
  });

  const names = async (labelSelector?: string, fieldSelector?: string) =>
    (await sb.core.listNamespacedPod({ namespace: 'sel', labelSelector, fieldSelector })).items.map((p) => p.metadata!.name);

  test('label selectors: =, ==, !=, in, notin, exists, !exists', async () => {
    assert.deepEqual(await names('app=web'), ['p1', 'p2']);
    assert.deepEqual(await names('app==db'), ['p3']);
    assert.deepEqual(await names('app!=web'), ['p3', 'p4']);
    assert.deepEqual(await names('tier in (front, back)'), ['p1', 'p2']);
    assert.deepEqual(await names('app notin (web)'), ['p3', 'p4']);
    assert.deepEqual(await names('tier'), ['p1', 'p2']);
    assert.deepEqual(await names('!app'), ['p4']);
    assert.deepEqual(await names('app=web,tier=back'), ['p2']);
  });

  test('field selectors on metadata.name and metadata.namespace; unknown fields are 400', async () => {
    assert.deepEqual(await names(undefined, 'metadata.name=p3'), ['p3']);
    assert.deepEqual(await names(undefined, 'metadata.name!=p3,metadata.namespace=sel'), ['p1', 'p2', 'p4']);
    await assert.rejects(names(undefined, 'spec.bogus=1'), (error) => statusOf(error) === 400 && /field label not supported: spec.bogus/.test(bodyOf(error).message));
  });

  test('limit and continue page through a list without gaps or repeats', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await sb.core.listNamespacedPod({ namespace: 'sel', limit: 3, _continue: token });
      seen.push(...page.items.map((p) => p.metadata!.name!));
      token = page.metadata!._continue || undefined;
      if (token) assert.equal(page.metadata!.remainingItemCount, 1);
      pages++;
    } while (token);
    assert.equal(pages, 2);
    assert.deepEqual(seen, ['p1', 'p2', 'p3', 'p4']);
  });
});

describe('dry run and collections', () => {
  test('dryRun=All validates and answers like a write, but stores nothing', async () => {
    const before = (await sb.core.listNamespacedConfigMap({ namespace: 'default' })).items.length;
    const dry = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    assert.ok(dry.metadata!.uid && dry.metadata!.creationTimestamp, 'filled in as the write would have been');
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/configmaps/dry')).status, 404);
    assert.equal((await sb.core.listNamespacedConfigMap({ namespace: 'default' })).items.length, before);
    await assert.rejects(sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Dry_Bad' } }, dryRun: 'All' }), (error) => statusOf(error) === 422);
  });

  test('deletecollection removes what the label selector matches, nothing else', async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'bulk' } } });
    for (const [name, batch] of [['b1', 'x'], ['b2', 'x'], ['b3', 'y']]) {
      await sb.core.createNamespacedConfigMap({ namespace: 'bulk', body: { metadata: { name, labels: { batch } } } });
    }
    await sb.core.deleteCollectionNamespacedConfigMap({ namespace: 'bulk', labelSelector: 'batch=x' });
    const left = await sb.core.listNamespacedConfigMap({ namespace: 'bulk' });
    assert.deepEqual(left.items.map((c) => c.metadata!.name), ['b3']);
  });
});

describe('authentication', () => {
  test('a request without the kubeconfig token is 401', async () => {
    const response = await fetch(`${sb.server.url}/api/v1/namespaces`);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { reason: string }).reason, 'Unauthorized');
  });
});
