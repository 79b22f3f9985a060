/**
 * CustomResourceDefinitions in the API emulator: registration, structural-schema validation
 * with kube-apiserver's messages, defaults, pruning, list-map keys, subresources, printer
 * columns, discovery — through @kubernetes/client-node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from './helpers/net.ts';
import { bodyOf, mergePatch, startSandbox, statusOf, widgetCrd, type Sandbox } from './helpers/apiserver.ts';

const GROUP = 'test.meridian.dev';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'crd' });
  // Raw JSON: client-node's typed CRD model would drop `default` and `x-kubernetes-*` keys
  // given in their wire spelling.
  const created = await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: widgetCrd });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(() => sb.close());

const widgets = { group: GROUP, version: 'v1', namespace: 'default', plural: 'widgets' };
const widget = (name: string, spec: Record<string, unknown>) => ({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec });

describe('registration', () => {
  test('a new CRD is served at once and becomes Established', async () => {
    const resources = await sb.raw('GET', `/apis/${GROUP}/v1`);
    assert.equal(resources.status, 200);
    const names = resources.body.resources.map((r: any) => r.name);
    assert.deepEqual(names.sort(), ['widgets', 'widgets/scale', 'widgets/status']);
    const crd = await waitFor(async () => {
      const live = await sb.crds.readCustomResourceDefinition({ name: `widgets.${GROUP}` });
      return live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? live : undefined;
    }, { what: 'Established condition' });
    assert.deepEqual(crd.status!.acceptedNames!.shortNames, ['wd']);
  });

  test('aggregated discovery lists the short name and category', async () => {
    const doc = await sb.raw('GET', '/apis', { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' });
    assert.match(doc.headers.get('content-type')!, /as=APIGroupDiscoveryList/);
    const group = doc.body.items.find((g: any) => g.metadata.name === GROUP);
    const resource = group.versions[0].resources[0];
    assert.equal(resource.resource, 'widgets');
    assert.deepEqual(resource.shortNames, ['wd']);
    assert.deepEqual(resource.categories, ['meridian']);
    assert.deepEqual(resource.subresources.map((s: any) => s.subresource).sort(), ['scale', 'status']);
  });

  test('a CRD whose name does not match plural.group is 422', async () => {
    const bad = structuredClone(widgetCrd);
    bad.metadata.name = 'wrong.example.com';
    const response = await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: bad });
    assert.equal(response.status, 422);
    assert.match(response.body.message, /metadata.name: Invalid value: "wrong.example.com": must be spec.names.plural\+"."\+spec.group/);
  });
});

describe('schema', () => {
  test('defaults are applied, unknown fields pruned, preserve-unknown-fields kept', async () => {
    const created: any = await sb.custom.createNamespacedCustomObject({ ...widgets, body: widget('defaults', { regions: [{ name: 'us-east1' }], bogus: true, extra: { anything: { goes: 1 } } }) });
    assert.equal(created.spec.replicas, 1);
    assert.equal(created.spec.size, 'small');
    assert.equal(created.spec.regions[0].weight, 1, 'defaults inside list items');
    assert.equal(created.spec.bogus, undefined, 'unknown field pruned');
    assert.deepEqual(created.spec.extra, { anything: { goes: 1 } });
    assert.equal(created.metadata.generation, 1);
  });

  test('fieldValidation=Strict rejects unknown fields by path; Warn prunes them with a Warning header', async () => {
    const body = widget('strict', { regions: [{ name: 'a', colour: 'red' }], bogus: 1 });
    const strict = await sb.raw('POST', `/apis/${GROUP}/v1/namespaces/default/widgets?fieldValidation=Strict`, { body });
    assert.equal(strict.status, 400);
    assert.equal(strict.body.message, 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.regions[0].colour", unknown field "spec.bogus"');
    const warned = await sb.raw('POST', `/apis/${GROUP}/v1/namespaces/default/widgets?fieldValidation=Warn`, { body });
    assert.equal(warned.status, 201);
    assert.match(warned.headers.get('warning')!, /299 - "unknown field \\"spec.bogus\\""/);
    assert.equal(warned.body.spec.bogus, undefined);
  });

  test('invalid values are 422 with every cause, worded as kube-apiserver does', async () => {
    const body = widget('invalid', { replicas: 11, size: 'huge', owner: 'ab', regions: [{ name: 'Bad_Name' }, { weight: 0 }] });
    await assert.rejects(sb.custom.createNamespacedCustomObject({ ...widgets, body }), (error) => {
      assert.equal(statusOf(error), 422);
      const status = bodyOf(error);
      assert.equal(status.reason, 'Invalid');
      const byField = Object.fromEntries(status.details.causes.map((c: any) => [c.field, c.message]));
      assert.equal(byField['spec.replicas'], 'Invalid value: 11: spec.replicas in body should be less than or equal to 10');
      assert.equal(byField['spec.size'], 'Unsupported value: "huge": supported values: "small", "large"');
      assert.equal(byField['spec.owner'], 'Invalid value: "ab": spec.owner in body should be at least 3 chars long');
      assert.equal(byField['spec.regions[0].name'], `Invalid value: "Bad_Name": spec.regions[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`);
      assert.equal(byField['spec.regions[1].name'], 'Required value');
      assert.equal(byField['spec.regions[1].weight'], 'Invalid value: 0: spec.regions[1].weight in body should be greater than or equal to 1');
      assert.match(status.message, /^Widget.test.meridian.dev "invalid" is invalid: \[/);
      assert.match(status.message, /spec.regions\[0\].name: Invalid value: "Bad_Name": spec.regions\[0\].name in body should match/);
      return true;
    });
  });

  test('a missing required field, a wrong type, too many items and a duplicate map key', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{}, 'spec.regions', 'Required value'],
      [{ regions: [], replicas: 'three' }, 'spec.replicas', 'Invalid value: "string": spec.replicas in body must be of type integer: "string"'],
      [{ regions: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }] }, 'spec.regions', 'Too many: 4: must have at most 3 items'],
      [{ regions: [{ name: 'a' }, { name: 'a', weight: 2 }] }, 'spec.regions[1]', 'Duplicate value: map[string]interface {}{"name":"a"}'],
    ];
    for (const [spec, field, message] of cases) {
      await assert.rejects(sb.custom.createNamespacedCustomObject({ ...widgets, body: widget('case', spec) }), (error) => {
        assert.equal(statusOf(error), 422);
        const cause = bodyOf(error).details.causes.find((c: any) => c.field === field);
        assert.ok(cause, `a cause for ${field} in ${JSON.stringify(bodyOf(error).details.causes)}`);
        assert.equal(cause.message, message);
        return true;
      });
    }
  });

  test('updates are validated too', async () => {
    await sb.custom.createNamespacedCustomObject({ ...widgets, body: widget('upd', { regions: [{ name: 'a' }] }) });
    await assert.rejects(
      sb.custom.patchNamespacedCustomObject({ ...widgets, name: 'upd', body: { spec: { replicas: -1 } } }, mergePatch),
      (error) => statusOf(error) === 422 && /spec.replicas in body should be greater than or equal to 0/.test(bodyOf(error).message),
    );
  });
});

describe('subresources and printing', () => {
  test('status: main writes ignore it; /status writes change only it; generation follows spec', async () => {
    await sb.custom.createNamespacedCustomObject({ ...widgets, body: widget('st', { regions: [{ name: 'a' }] }) });
    const main: any = await sb.custom.patchNamespacedCustomObject({ ...widgets, name: 'st', body: { status: { phase: 'Hacked' } } }, mergePatch);
    assert.equal(main.status, undefined);
    const st: any = await sb.custom.patchNamespacedCustomObjectStatus({ ...widgets, name: 'st', body: { status: { phase: 'Ready', replicas: 1 }, spec: { replicas: 5 } } }, mergePatch);
    assert.equal(st.status.phase, 'Ready');
    assert.equal(st.spec.replicas, 1);
    assert.equal(st.metadata.generation, 1);
    const bumped: any = await sb.custom.patchNamespacedCustomObject({ ...widgets, name: 'st', body: { spec: { replicas: 2 } } }, mergePatch);
    assert.equal(bumped.metadata.generation, 2);
    assert.equal(bumped.status.phase, 'Ready', 'status survives a main write');
  });

  test('a PUT of a custom resource must carry a resourceVersion (no unconditional updates)', async () => {
    const live: any = await sb.custom.getNamespacedCustomObject({ ...widgets, name: 'st' });
    const { resourceVersion: _rv, ...metadata } = live.metadata;
    await assert.rejects(sb.custom.replaceNamespacedCustomObject({ ...widgets, name: 'st', body: { ...live, metadata } }), (error) => {
      assert.equal(statusOf(error), 422);
      assert.match(bodyOf(error).message, /metadata.resourceVersion: Invalid value: 0x0: must be specified for an update/);
      return true;
    });
    const replaced: any = await sb.custom.replaceNamespacedCustomObject({ ...widgets, name: 'st', body: { ...live, spec: { ...live.spec, size: 'large' } } });
    assert.equal(replaced.spec.size, 'large');
  });

  test('scale: reads spec/status replicas, writes spec.replicas', async () => {
    await sb.custom.createNamespacedCustomObject({ ...widgets, body: widget('sc', { replicas: 2, regions: [{ name: 'a' }] }) });
    const scale = await sb.raw('GET', `/apis/${GROUP}/v1/namespaces/default/widgets/sc/scale`);
    assert.equal(scale.body.kind, 'Scale');
    assert.equal(scale.body.spec.replicas, 2);
    const patched = await sb.raw('PATCH', `/apis/${GROUP}/v1/namespaces/default/widgets/sc/scale`, { body: { spec: { replicas: 4 } }, contentType: 'application/merge-patch+json' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.spec.replicas, 4);
    const live: any = await sb.custom.getNamespacedCustomObject({ ...widgets, name: 'sc' });
    assert.equal(live.spec.replicas, 4);
  });

  test('Table responses carry the printer columns', async () => {
    await sb.custom.patchNamespacedCustomObjectStatus({ ...widgets, name: 'sc', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, mergePatch);
    const table = await sb.raw('GET', `/apis/${GROUP}/v1/namespaces/default/widgets?labelSelector=`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    assert.equal(table.body.kind, 'Table');
    assert.deepEqual(table.body.columnDefinitions.map((c: any) => c.name), ['Name', 'Size', 'Replicas', 'Ready', 'Regions', 'Age']);
    const row = table.body.rows.find((r: any) => r.cells[0] === 'sc');
    assert.deepEqual(row.cells.slice(0, 5), ['sc', 'small', 4, 'True', 'a']);
    assert.match(row.cells[5], /^\d+s$/);
    assert.equal(row.object.kind, 'PartialObjectMetadata');
  });

  test('deleting the CRD stops serving the resource and removes its objects', async () => {
    const other = structuredClone(widgetCrd);
    other.metadata.name = `gadgets.${GROUP}`;
    Object.assign(other.spec.names, { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList', shortNames: [] });
    assert.equal((await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: other })).status, 201);
    await sb.custom.createNamespacedCustomObject({ ...widgets, plural: 'gadgets', body: { apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'g' }, spec: { regions: [] } } });
    await sb.crds.deleteCustomResourceDefinition({ name: `gadgets.${GROUP}` });
    const gone = await sb.raw('GET', `/apis/${GROUP}/v1/namespaces/default/gadgets`);
    assert.equal(gone.status, 404);
    const still = await sb.raw('GET', `/apis/${GROUP}/v1/namespaces/default/widgets`);
    assert.equal(still.status, 200, 'the other kind of the group is still served');
  });
});
