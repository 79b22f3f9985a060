/**
 * Write semantics a controller relies on, checked through @kubernetes/client-node and the
 * official Python client, each case naming the Kubernetes source of the behaviour:
 * registry strategies (update-only validation, AllowCreateOnUpdate, AllowUnconditionalUpdate),
 * rest.BeforeCreate/BeforeUpdate preconditions, Secret stringData, generation, ObjectMeta
 * validation, and DELETE responses (handlers/delete.go).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bodyOf, deployment, mergePatch, startSandbox, statusOf, widgetCrd, type Sandbox } from './helpers/apiserver.ts';
import { runPython, skipUnlessPythonKubernetes } from './helpers/kube-python.ts';

let sb: Sandbox;
let kubeconfig: string;
let dir: string;
const python = skipUnlessPythonKubernetes('the write-semantics conformance checks through the Python client');

async function rejects(call: () => Promise<unknown>, status: number, message?: RegExp): Promise<any> {
  try {
    await call();
  } catch (error) {
    assert.equal(statusOf(error), status, JSON.stringify(bodyOf(error)));
    if (message) assert.match(bodyOf(error).message, message);
    return bodyOf(error);
  }
  assert.fail(`expected HTTP ${status}`);
}

before(async () => {
  sb = await startSandbox({ name: 'conformance-writes', readyDelayMs: 20 });
  dir = mkdtempSync(join(tmpdir(), 'conformance-writes-'));
  kubeconfig = join(dir, 'kubeconfig');
  await sb.server.writeKubeconfig(kubeconfig);
  const crd = await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: widgetCrd });
  assert.equal(crd.status, 201, JSON.stringify(crd.body));
});
after(async () => {
  await sb?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('update-only validation (ValidateUpdate of each strategy)', () => {
  test('apps/v1 Deployment: spec.selector is immutable (422)', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('sel') });
    const live = await sb.apps.readNamespacedDeployment({ namespace: 'default', name: 'sel' });
    live.spec!.selector = { matchLabels: { app: 'sel', tier: 'x' } };
    live.spec!.template!.metadata!.labels = { app: 'sel', tier: 'x' };
    // Unconditional (Deployments allow it): the controller's status writes cannot race the PUT into a 409.
    delete live.metadata!.resourceVersion;
    const body = await rejects(() => sb.apps.replaceNamespacedDeployment({ namespace: 'default', name: 'sel', body: live }), 422, /spec\.selector: Invalid value: .*field is immutable/);
    assert.equal(body.reason, 'Invalid');
  });

  test('ConfigMap and Secret with immutable: true keep their data and the mark (422)', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true } });
    await rejects(() => sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'frozen', body: { data: { a: '2' } } }, mergePatch), 422, /data: Forbidden: field is immutable when `immutable` is set/);
    await rejects(() => sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'frozen', body: { immutable: false } }, mergePatch), 422, /immutable: Forbidden/);
    const labelled = await sb.core.patchNamespacedConfigMap({ namespace: 'default', name: 'frozen', body: { metadata: { labels: { ok: 'yes' } } } }, mergePatch);
    assert.equal(labelled.metadata!.labels!.ok, 'yes', 'metadata stays writable');
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'frozen' }, data: { a: 'MQ==' }, immutable: true } });
    await rejects(() => sb.core.patchNamespacedSecret({ namespace: 'default', name: 'frozen', body: { data: { a: 'Mg==' } } }, mergePatch), 422, /data: Forbidden/);
  });

  test('Service: an allocated clusterIP may not change; an update that leaves it out keeps it', async () => {
    const svc = await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } } });
    const ip = svc.spec!.clusterIP!;
    const kept = await sb.core.replaceNamespacedService({ namespace: 'default', name: 'web', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web2' }, ports: [{ port: 80 }] } } });
    assert.equal(kept.spec!.clusterIP, ip, 'patchAllocatedValues carries the IP over');
    await rejects(() => sb.core.patchNamespacedService({ namespace: 'default', name: 'web', body: { spec: { clusterIP: '10.96.200.200', clusterIPs: ['10.96.200.200'] } } }, mergePatch), 422, /spec\.clusterIPs\[0\]: Invalid value: .*may not change once set/);
  });

  test('Pod: only images, activeDeadlineSeconds, tolerations and grace period may change', async () => {
    await sb.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } } });
    const image = await sb.core.patchNamespacedPod({ namespace: 'default', name: 'p', body: { spec: { containers: [{ name: 'c', image: 'x:2' }] } } }, mergePatch);
    assert.equal(image.spec!.containers[0].image, 'x:2');
    await rejects(() => sb.core.patchNamespacedPod({ namespace: 'default', name: 'p', body: { spec: { restartPolicy: 'Never' } } }, mergePatch), 422, /spec: Forbidden: pod updates may not change fields other than/);
  });
});

describe('create and update preconditions (generic registry Store.Create/Update)', () => {
  test('a POST carrying metadata.resourceVersion is refused (storage: resourceVersion should not be set on objects to be created)', async () => {
    await rejects(() => sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'rv', resourceVersion: '5' } } }), 500, /resourceVersion should not be set on objects to be created/);
  });

  test('a PUT whose uid differs from the stored object is a 409 precondition failure (rest.BeforeUpdate)', async () => {
    const first = await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'reborn' }, data: { v: '1' } } });
    await sb.core.deleteNamespacedConfigMap({ namespace: 'default', name: 'reborn' });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'reborn' }, data: { v: '2' } } });
    const stale = { ...first, metadata: { name: 'reborn', uid: first.metadata!.uid }, data: { v: 'stale' } };
    await rejects(() => sb.core.replaceNamespacedConfigMap({ namespace: 'default', name: 'reborn', body: stale }), 409, /Precondition failed: UID in precondition/);
  });

  test('Lease: PUT without resourceVersion is 422 (AllowUnconditionalUpdate false); PUT of a missing Lease creates it (201)', async () => {
    const lease = { metadata: { name: 'leader' }, spec: { holderIdentity: 'a' } };
    const created = await sb.raw('PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/leader', { body: lease });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const again = await sb.raw('PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/leader', { body: lease });
    assert.equal(again.status, 422);
    assert.match(again.body.message, /metadata\.resourceVersion: Invalid value: 0x0: must be specified for an update/);
    const missingCm = await sb.raw('PUT', '/api/v1/namespaces/default/configmaps/never', { body: { metadata: { name: 'never' } } });
    assert.equal(missingCm.status, 404, 'ConfigMaps do not allow create on update');
  });

  test('the same through the Python client', { skip: python }, async () => {
    const out = await runPython(
      kubeconfig,
      `
co = client.CoordinationV1Api(api)
v1 = client.CoreV1Api(api)
body = {"metadata": {"name": "py-leader"}, "spec": {"holderIdentity": "py"}}
first = call(co.replace_namespaced_lease, "py-leader", "default", body)
second = call(co.replace_namespaced_lease, "py-leader", "default", body)
rv = call(v1.create_namespaced_config_map, "default", {"metadata": {"name": "py-rv", "resourceVersion": "3"}})
emit({"first": first["spec"]["holderIdentity"], "second": second["status"], "rv": rv["status"]})
`,
    );
    assert.deepEqual(out, { first: 'py', second: 422, rv: 500 });
  });
});

describe('Secrets (v1 conversion merges stringData into data)', () => {
  test('stringData is merged into data, overrides it, and is never returned', async () => {
    const created = await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'sd' }, data: { a: Buffer.from('old').toString('base64'), b: 'Yg==' }, stringData: { a: 'new', c: 'see' } } });
    assert.equal(created.stringData, undefined);
    assert.deepEqual(created.data, { a: Buffer.from('new').toString('base64'), b: 'Yg==', c: Buffer.from('see').toString('base64') });
    const patched = await sb.core.patchNamespacedSecret({ namespace: 'default', name: 'sd', body: { stringData: { b: 'bee' } } }, mergePatch);
    assert.equal(Buffer.from(patched.data!.b, 'base64').toString(), 'bee');
    assert.equal(patched.stringData, undefined);
  });

  test('the Python client reads stringData back as data', { skip: python }, async () => {
    const out = await runPython(
      kubeconfig,
      `
import base64
v1 = client.CoreV1Api(api)
v1.create_namespaced_secret("default", {"metadata": {"name": "py-sd"}, "stringData": {"k": "v"}})
s = v1.read_namespaced_secret("py-sd", "default")
emit({"data": base64.b64decode(s.data["k"]).decode(), "stringData": s.string_data})
`,
    );
    assert.deepEqual(out, { data: 'v', stringData: null });
  });
});

describe('generation and namespaces', () => {
  test('an annotation-only change bumps a Deployment\'s generation (deployment strategy PrepareForUpdate)', async () => {
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: deployment('gen') });
    const annotated = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'gen', body: { metadata: { annotations: { note: 'x' } } } }, mergePatch);
    assert.equal(annotated.metadata!.generation, 2);
    const labelled = await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'gen', body: { metadata: { labels: { l: 'y' } } } }, mergePatch);
    assert.equal(labelled.metadata!.generation, 2, 'labels do not count');
  });

  test('marking an object with a generation for deletion bumps it (Store.markAsDeleting)', async () => {
    const widget = { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w', finalizers: ['test.dev/hold'] }, spec: { regions: [{ name: 'a' }] } };
    await sb.custom.createNamespacedCustomObject({ group: 'test.meridian.dev', version: 'v1', namespace: 'default', plural: 'widgets', body: widget });
    const deleting = await sb.custom.deleteNamespacedCustomObject({ group: 'test.meridian.dev', version: 'v1', namespace: 'default', plural: 'widgets', name: 'w' });
    assert.equal((deleting as any).metadata.generation, 2);
  });

  test('namespaces carry kubernetes.io/metadata.name (namespace strategy)', async () => {
    const ns = await sb.core.createNamespace({ body: { metadata: { name: 'labelled', labels: { 'kubernetes.io/metadata.name': 'wrong' } } } });
    assert.equal(ns.metadata!.labels!['kubernetes.io/metadata.name'], 'labelled');
    const seeded = await sb.core.readNamespace({ name: 'default' });
    assert.equal(seeded.metadata!.labels!['kubernetes.io/metadata.name'], 'default');
  });
});

describe('ObjectMeta validation on every kind, custom resources included (ValidateObjectMeta)', () => {
  const widget = (metadata: Record<string, unknown>) => ({ apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata, spec: { regions: [{ name: 'a' }] } });
  const create = (metadata: Record<string, unknown>) => sb.raw('POST', '/apis/test.meridian.dev/v1/namespaces/default/widgets', { body: widget(metadata) });

  test('label values and keys, annotation keys and size', async () => {
    const badValue = await create({ name: 'v', labels: { ok: 'bad value!' } });
    assert.equal(badValue.status, 422);
    assert.match(badValue.body.message, /metadata\.labels: Invalid value: "bad value!": a valid label must be an empty string/);
    const badKey = await create({ name: 'k', labels: { 'bad key': 'x' } });
    assert.equal(badKey.status, 422);
    assert.match(badKey.body.message, /name part must consist of alphanumeric characters/);
    const bigAnnotations = await create({ name: 'a', annotations: { big: 'x'.repeat(256 * 1024) } });
    assert.equal(bigAnnotations.status, 422);
    assert.match(bigAnnotations.body.message, /metadata\.annotations: Too long: must have at most 262144 bytes/);
  });

  test('labels that are not a map of strings are the decoder\'s 400, for built-ins and custom resources', async () => {
    const cm = await sb.raw('POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'arr', labels: ['a'] } } });
    assert.equal(cm.status, 400);
    assert.match(cm.body.message, /cannot unmarshal array into Go struct field ObjectMeta\.metadata\.labels of type map\[string\]string/);
    const cr = await create({ name: 'arr', labels: ['a'] });
    assert.equal(cr.status, 400);
  });

  test('Strict field validation refuses unknown metadata.* fields; Warn drops them with a warning', async () => {
    const strict = await sb.raw('POST', '/apis/test.meridian.dev/v1/namespaces/default/widgets?fieldValidation=Strict', { body: widget({ name: 's', colour: 'red' }) });
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /strict decoding error: unknown field "metadata\.colour"/);
    const warned = await sb.raw('POST', '/apis/test.meridian.dev/v1/namespaces/default/widgets', { body: widget({ name: 'w2', colour: 'red' }) });
    assert.equal(warned.status, 201);
    assert.equal(warned.body.metadata.colour, undefined);
    assert.match(warned.headers.get('warning') ?? '', /299 - "unknown field \\"metadata\.colour\\""/);
  });
});

describe('DELETE responses (handlers/delete.go, ReturnDeletedObject)', () => {
  test('an immediate delete answers a Status for most kinds and the object for Pods, Services, ServiceAccounts and Namespaces', async () => {
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gone' } } });
    const cm = await sb.raw('DELETE', '/api/v1/namespaces/default/configmaps/gone');
    assert.equal(cm.status, 200);
    assert.deepEqual([cm.body.kind, cm.body.status, cm.body.details.name, cm.body.details.kind], ['Status', 'Success', 'gone', 'configmaps']);
    await sb.core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'sa' } } });
    const sa = await sb.raw('DELETE', '/api/v1/namespaces/default/serviceaccounts/sa');
    assert.deepEqual([sa.status, sa.body.kind], [200, 'ServiceAccount']);
  });

  test('a pending delete (namespace, finalizers, dry run) answers 200 with the object, 202 only with orphanDependents=false', async () => {
    await sb.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    const ns = await sb.raw('DELETE', '/api/v1/namespaces/doomed');
    assert.deepEqual([ns.status, ns.body.kind, ns.body.status.phase], [200, 'Namespace', 'Terminating']);
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'dry' } } });
    const dry = await sb.raw('DELETE', '/api/v1/namespaces/default/configmaps/dry?dryRun=All');
    assert.equal(dry.status, 200);
    assert.equal((await sb.raw('GET', '/api/v1/namespaces/default/configmaps/dry')).status, 200, 'dry run deleted nothing');
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'held', finalizers: ['x.dev/y'] } } });
    const orphan = await sb.raw('DELETE', '/api/v1/namespaces/default/configmaps/held', { body: { orphanDependents: false } });
    assert.equal(orphan.status, 202);
  });
});

describe('lists and managedFields as typed clients see them', () => {
  test('items of built-in lists carry no kind/apiVersion; custom resource lists keep them', async () => {
    const cms = await sb.raw('GET', '/api/v1/namespaces/default/configmaps');
    assert.ok(cms.body.items.length > 0);
    for (const item of cms.body.items) assert.deepEqual([item.kind, item.apiVersion], [undefined, undefined]);
    const widgets = await sb.raw('GET', '/apis/test.meridian.dev/v1/widgets');
    for (const item of widgets.body.items) assert.equal(item.kind, 'Widget');
  });

  test('the Python client lists, watches (watch=True is a boolean) and deletes', { skip: python }, async () => {
    const out = await runPython(
      kubeconfig,
      `
v1 = client.CoreV1Api(api)
v1.create_namespaced_config_map("default", {"metadata": {"name": "py-w"}})
w = watch.Watch()
seen = []
for event in w.stream(v1.list_namespaced_config_map, "default", field_selector="metadata.name=py-w", timeout_seconds=5):
    seen.append((event["type"], event["object"].metadata.name))
    w.stop()
deleted = v1.delete_namespaced_config_map("py-w", "default")
emit({"seen": seen, "deleted": deleted.status})
`,
    );
    assert.deepEqual(out, { seen: [['ADDED', 'py-w']], deleted: 'Success' });
  });
});
