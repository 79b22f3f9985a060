/**
 * Patches against the API emulator: JSON merge patch, JSON patch and strategic merge patch
 * (keyed lists of the built-in kinds), through @kubernetes/client-node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bodyOf, deployment, jsonPatch, mergePatch, startSandbox, statusOf, strategicPatch, type Sandbox } from './helpers/apiserver.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'patch' });
});
after(() => sb.close());

const twoContainers = (name: string) => {
  const d = deployment(name, 0);
  d.spec!.template.spec!.containers = [
    { name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 8080 }] },
    { name: 'sidecar', image: 'proxy:1' },
  ];
  return d;
};

describe('JSON merge patch', () => {
  test('merges maps, deletes keys set to null, replaces lists', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'mp', labels: { a: '1', b: '2' } }, data: { x: '1', y: '2' } } });
    const patched = await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'mp', body: { metadata: { labels: { b: null, c: '3' } }, data: { y: '20' } } }, mergePatch);
    assert.deepEqual(patched.metadata!.labels, { a: '1', c: '3' });
    assert.deepEqual(patched.data, { x: '1', y: '20' });
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: twoContainers('mp-list') });
    const replaced = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'mp-list', body: { spec: { template: { spec: { containers: [{ name: 'only', image: 'x:1' }] } } } } }, mergePatch);
    assert.deepEqual(replaced.spec!.template.spec!.containers.map((c) => c.name), ['only']);
  });

  test('a resourceVersion in the patch is a precondition: stale is 409', async () => {
    const cm = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'mp-rv' }, data: { v: '1' } } });
    await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'mp-rv', body: { data: { v: '2' } } }, mergePatch);
    await assert.rejects(
      sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'mp-rv', body: { metadata: { resourceVersion: cm.metadata!.resourceVersion }, data: { v: '3' } } }, mergePatch),
      (error) => statusOf(error) === 409 && bodyOf(error).reason === 'Conflict',
    );
  });
});

describe('JSON patch', () => {
  test('add, replace, remove and test operations', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'jp' }, data: { a: '1', b: '2' } } });
    const patched = await sb.core.patchNamespacedConfigMap(
      {
        namespace: 'default',
        name: 'jp',
        body: [
          { op: 'test', path: '/data/a', value: '1' },
          { op: 'replace', path: '/data/a', value: 'one' },
          { op: 'remove', path: '/data/b' },
          { op: 'add', path: '/metadata/labels', value: { 'app.kubernetes.io/name': 'x' } },
        ],
      },
      jsonPatch,
    );
    assert.deepEqual(patched.data, { a: 'one' });
    assert.deepEqual(patched.metadata!.labels, { 'app.kubernetes.io/name': 'x' });
  });

  test('a failed test operation is 422 and changes nothing', async () => {
    const before = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'jp' });
    await assert.rejects(
      sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'jp', body: [{ op: 'test', path: '/data/a', value: 'nope' }, { op: 'remove', path: '/data/a' }] }, jsonPatch),
      (error) => statusOf(error) === 422,
    );
    const after = await sb.core.readNamespacedConfigMap({ namespace: 'default', name: 'jp' });
    assert.equal(after.metadata!.resourceVersion, before.metadata!.resourceVersion);
  });
});

describe('strategic merge patch', () => {
  test('containers and env merge by name; other containers are kept', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: twoContainers('smp') });
    const patched = await sb.apps.patchNamespacedDeployment(
      { namespace: 'default', name: 'smp', body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: 'two' }, { name: 'C', value: '3' }] }] } } } } },
      strategicPatch,
    );
    const [app, sidecar] = patched.spec!.template.spec!.containers;
    assert.equal(app.image, 'app:2');
    assert.deepEqual(app.env!.map((e) => `${e.name}=${e.value}`), ['A=1', 'B=two', 'C=3']);
    assert.equal(app.ports![0].containerPort, 8080);
    assert.equal(sidecar.name, 'sidecar');
  });

  test('$patch: delete removes one keyed item', async () => {
    const patched = await sb.apps.patchNamespacedDeployment(
      { namespace: 'default', name: 'smp', body: { spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } } },
      strategicPatch,
    );
    assert.deepEqual(patched.spec!.template.spec!.containers.map((c) => c.name), ['app']);
  });

  test('KubernetesObjectApi.patch (strategic by default) works on built-ins', async () => {
    const patched = await sb.objects.patch({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'smp', namespace: 'default', labels: { via: 'objects' } } });
    assert.deepEqual(patched.metadata!.labels, { app: 'smp', via: 'objects' }, 'merged into the existing labels, not replacing them');
  });

  test('custom resources do not accept strategic merge patch: 415', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'things.test.meridian.dev' },
      spec: {
        group: 'test.meridian.dev',
        scope: 'Namespaced',
        names: { plural: 'things', kind: 'Thing' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    assert.equal((await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd })).status, 201);
    await sb.custom.createNamespacedCustomObject({ group: 'test.meridian.dev', version: 'v1', namespace: 'default', plural: 'things', body: { apiVersion: 'test.meridian.dev/v1', kind: 'Thing', metadata: { name: 't' } } });
    const response = await sb.raw('PATCH', '/apis/test.meridian.dev/v1/namespaces/default/things/t', { body: { spec: {} }, contentType: 'application/strategic-merge-patch+json' });
    assert.equal(response.status, 415);
    assert.equal(response.body.reason, 'UnsupportedMediaType');
  });
});
