/**
 * Hostile keys and shapes in requests to the API emulator: `__proto__`, `constructor`,
 * `prototype`, `toString` in every place a request's keys are walked (JSON patch paths, merge,
 * strategic merge and apply bodies, create bodies, label selectors), and deeply nested bodies.
 * Kubernetes treats these names as ordinary keys (a ConfigMap may hold a key `constructor`);
 * the emulator must too, without ever reaching Object.prototype, and answer bad input with a 4xx.
 * Selectors are also checked through the official Python client.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { runPython, skipUnlessPythonKubernetes } from './helpers/kube-python.ts';

let sb: Sandbox;
let dir: string;
const CM = '/api/v1/namespaces/default/configmaps';

/** Nothing may have reached the shared prototype of every object in this process. */
function assertPrototypeClean(): void {
  const probe: Record<string, unknown> = {};
  for (const key of ['polluted', 'x', 'terminating']) assert.equal(probe[key], undefined, `Object.prototype.${key} was set`);
  assert.deepEqual(Object.keys(Object.prototype), []);
}

before(async () => {
  sb = await startSandbox({ name: 'conformance-safety' });
  dir = mkdtempSync(join(tmpdir(), 'conformance-safety-'));
  await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  for (const [name, labels] of [['plain', { app: 'web' }], ['odd', { constructor: 'yes', toString: 'x' }]] as const) {
    const created = await sb.raw('POST', CM, { body: { metadata: { name, labels }, data: { k: 'v' } } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
});
after(async () => {
  await sb?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('JSON patch paths (RFC 6902 pointers walk own properties only)', () => {
  test('a path through __proto__ is refused with 400 and later creates still work', async () => {
    for (const path of ['/metadata/__proto__/polluted', '/__proto__/polluted', '/metadata/labels/__proto__']) {
      const res = await sb.raw('PATCH', `${CM}/plain`, { body: [{ op: 'add', path, value: { deletionTimestamp: 'x' } }], contentType: 'application/json-patch+json' });
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, /__proto__/);
    }
    assertPrototypeClean();
    const later = await sb.raw('POST', CM, { body: { metadata: { name: 'after-patch' } } });
    assert.equal(later.status, 201, 'a create after the attempt is not refused as "namespace is terminating"');
  });

  test('constructor/prototype are ordinary keys: absent on the object, so the path is missing (422)', async () => {
    for (const op of ['add', 'replace', 'remove']) {
      const res = await sb.raw('PATCH', `${CM}/plain`, {
        body: [{ op, path: '/metadata/constructor/prototype/polluted', value: 1 }],
        contentType: 'application/json-patch+json',
      });
      assert.equal(res.status, 422, `${op}: ${JSON.stringify(res.body)}`);
    }
    const copy = await sb.raw('PATCH', `${CM}/plain`, { body: [{ op: 'copy', from: '/metadata/toString', path: '/data/x' }], contentType: 'application/json-patch+json' });
    assert.equal(copy.status, 422, 'copying from an inherited method is a missing path');
    assertPrototypeClean();
  });

  test('a key named constructor can be added, read back and removed like any other', async () => {
    const add = await sb.raw('PATCH', `${CM}/plain`, { body: [{ op: 'add', path: '/data/constructor', value: 'c' }], contentType: 'application/json-patch+json' });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.equal(add.body.data.constructor, 'c');
    const remove = await sb.raw('PATCH', `${CM}/plain`, { body: [{ op: 'remove', path: '/data/constructor' }], contentType: 'application/json-patch+json' });
    assert.equal(remove.status, 200);
    assert.equal(Object.hasOwn(remove.body.data, 'constructor'), false);
  });
});

describe('bodies: create, merge patch, strategic merge patch, server-side apply', () => {
  const cases: Array<[string, string, string, string]> = [
    ['create (JSON)', 'POST', CM, '{"metadata":{"name":"p1","__proto__":{"deletionTimestamp":"x"}}}'],
    ['merge patch', 'PATCH', `${CM}/plain`, '{"metadata":{"labels":{"__proto__":{"polluted":"1"}}}}'],
    ['strategic merge patch', 'PATCH', `${CM}/plain`, '{"data":{"__proto__":{"polluted":"1"}}}'],
    ['apply (YAML)', 'PATCH', `${CM}/plain?fieldManager=t`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  __proto__:\n    polluted: "1"\n'],
  ];
  const types: Record<string, string> = {
    'create (JSON)': 'application/json',
    'merge patch': 'application/merge-patch+json',
    'strategic merge patch': 'application/strategic-merge-patch+json',
    'apply (YAML)': 'application/apply-patch+yaml',
  };
  for (const [name, method, path, body] of cases) {
    test(`${name}: a __proto__ key is refused with 400`, async () => {
      const res = await sb.raw(method, path, { body, contentType: types[name] });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assertPrototypeClean();
    });
  }

  test('merge and strategic patches treat constructor/prototype keys as data', async () => {
    for (const contentType of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      const res = await sb.raw('PATCH', `${CM}/plain`, { body: { data: { constructor: 'a', prototype: 'b' } }, contentType });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual([res.body.data.constructor, res.body.data.prototype], ['a', 'b']);
    }
    assertPrototypeClean();
  });

  test('a body nested deeper than the decoder allows is a 400, not a 500', async () => {
    const depth = 20_000;
    const deep = `{"metadata":{"name":"deep"},"data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    const res = await sb.raw('POST', CM, { body: deep });
    assert.equal(res.status, 400, JSON.stringify(res.body).slice(0, 300));
    assert.match(res.body.message, /max depth/);
    const patch = await sb.raw('PATCH', `${CM}/plain`, { body: deep, contentType: 'application/merge-patch+json' });
    assert.equal(patch.status, 400);
  });
});

describe('label selectors (labels.Parse: a key is looked up in the object\'s own labels)', () => {
  const names = async (selector: string) => {
    const res = await sb.raw('GET', `${CM}?labelSelector=${encodeURIComponent(selector)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items.map((o: { metadata: { name: string } }) => o.metadata.name).filter((n: string) => n === 'plain' || n === 'odd').sort();
  };

  test('existence of toString / constructor matches only objects carrying those labels', async () => {
    assert.deepEqual(await names('toString'), ['odd']);
    assert.deepEqual(await names('constructor'), ['odd']);
    assert.deepEqual(await names('!constructor'), ['plain']);
    assert.deepEqual(await names('hasOwnProperty'), []);
    assert.deepEqual(await names('constructor=yes'), ['odd']);
    assert.deepEqual(await names('constructor in (yes)'), ['odd']);
    assert.deepEqual(await names('valueOf notin (x)'), ['odd', 'plain']);
  });

  test('a __proto__ selector key is a 400', async () => {
    const res = await sb.raw('GET', `${CM}?labelSelector=__proto__`);
    assert.equal(res.status, 400);
  });

  test('the Python client sees the same selections', { skip: skipUnlessPythonKubernetes('label selector checks through the Python client') }, async () => {
    const out = await runPython(
      join(dir, 'kubeconfig'),
      `
v1 = client.CoreV1Api(api)
result = {}
for sel in ["toString", "constructor", "!constructor", "hasOwnProperty"]:
    items = v1.list_namespaced_config_map("default", label_selector=sel).items
    result[sel] = sorted(i.metadata.name for i in items if i.metadata.name in ("plain", "odd"))
emit(result)
`,
    );
    assert.deepEqual(out, { toString: ['odd'], constructor: ['odd'], '!constructor': ['plain'], hasOwnProperty: [] });
  });
});
