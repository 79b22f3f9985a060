/**
 * Query parameters as kube-apiserver reads them, through raw HTTP and the official Python
 * client: booleans (apimachinery Convert_Slice_string_To_bool), dryRun and fieldValidation
 * (ValidateCreateOptions), resourceVersion beyond the server's (the watch cache's 504
 * ResourceVersionTooLarge), resourceVersionMatch (ValidateListOptions) and watch timeoutSeconds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, widgetCrd, type Sandbox } from './helpers/apiserver.ts';
import { runPython, skipUnlessPythonKubernetes } from './helpers/kube-python.ts';

let sb: Sandbox;
let dir: string;
const CM = '/api/v1/namespaces/default/configmaps';

/** Reads a watch until the server ends it; returns the event lines. */
async function watchLines(path: string): Promise<string[]> {
  const kc = sb.kc;
  const token = kc.getCurrentUser()?.token ?? '';
  const response = await fetch(`${sb.server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const text = await response.text();
  return text.split('\n').filter(Boolean);
}

before(async () => {
  sb = await startSandbox({ name: 'conformance-query' });
  dir = mkdtempSync(join(tmpdir(), 'conformance-query-'));
  await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  await sb.raw('POST', CM, { body: { metadata: { name: 'one' } } });
});
after(async () => {
  await sb?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('booleans: absent, 0 or false (any case) are false; anything else is true', () => {
  for (const value of ['true', 'True', 'TRUE', 't', '1', 'yes']) {
    test(`watch=${value} opens a watch`, async () => {
      const lines = await watchLines(`${CM}?watch=${value}&timeoutSeconds=1&fieldSelector=metadata.name%3Done`);
      assert.equal(JSON.parse(lines[0]).type, 'ADDED');
    });
  }
  for (const value of ['false', 'False', '0']) {
    test(`watch=${value} is a plain list`, async () => {
      const res = await sb.raw('GET', `${CM}?watch=${value}`);
      assert.equal(res.body.kind, 'ConfigMapList');
    });
  }
});

describe('write options (ValidateCreateOptions / ValidatePatchOptions)', () => {
  test('dryRun other than All is 422 and writes nothing', async () => {
    const res = await sb.raw('POST', `${CM}?dryRun=Bogus`, { body: { metadata: { name: 'bogus' } } });
    assert.equal(res.status, 422);
    assert.match(res.body.message, /CreateOptions\.meta\.k8s\.io "" is invalid: dryRun: Unsupported value: \[\]string\{"Bogus"\}: supported values: "All"/);
    assert.equal((await sb.raw('GET', `${CM}/bogus`)).status, 404);
  });

  test('an unknown fieldValidation is 422; Ignore drops unknown fields silently', async () => {
    const bad = await sb.raw('POST', `${CM}?fieldValidation=Loose`, { body: { metadata: { name: 'fv' } } });
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /fieldValidation: Unsupported value: "Loose"/);
    const ignored = await sb.raw('POST', `${CM}?fieldValidation=Ignore`, { body: { metadata: { name: 'fv' }, colour: 'red' } });
    assert.equal(ignored.status, 201);
    assert.equal(ignored.headers.get('warning'), null);
    assert.equal(ignored.body.colour, undefined);
  });

  test('without fieldValidation an unknown field is dropped with a Warning (the default is Warn)', async () => {
    const crd = await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: widgetCrd });
    assert.equal(crd.status, 201);
    const res = await sb.raw('POST', '/apis/test.meridian.dev/v1/namespaces/default/widgets', {
      body: { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { regions: [{ name: 'a' }], foo: 1 } },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('warning'), '299 - "unknown field \\"spec.foo\\""');
    assert.equal(res.body.spec.foo, undefined);
    const viaClient = await sb.custom.createNamespacedCustomObjectWithHttpInfo({
      group: 'test.meridian.dev',
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      body: { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w-client' }, spec: { regions: [{ name: 'a' }], bar: true } },
    });
    assert.equal(viaClient.headers.warning, '299 - "unknown field \\"spec.bar\\""', 'client-node receives the same header');
    const builtin = await sb.raw('POST', CM, { body: { metadata: { name: 'extra' }, dta: { a: '1' } } });
    assert.equal(builtin.headers.get('warning'), '299 - "unknown field \\"dta\\""');
  });
});

describe('resourceVersion on reads', () => {
  test('a version the server has not reached is 504 Timeout / ResourceVersionTooLarge on get, list and watch', async () => {
    for (const path of [`${CM}/one?resourceVersion=999999`, `${CM}?resourceVersion=999999`, `${CM}?watch=true&resourceVersion=999999`]) {
      const res = await sb.raw('GET', path);
      assert.equal(res.status, 504, path);
      assert.equal(res.body.reason, 'Timeout');
      assert.match(res.body.message, /Too large resource version: 999999, current: \d+/);
      assert.equal(res.body.details.causes[0].reason, 'ResourceVersionTooLarge');
    }
  });

  test('resourceVersionMatch needs a resourceVersion, and Exact needs a non-zero one (422)', async () => {
    const without = await sb.raw('GET', `${CM}?resourceVersionMatch=NotOlderThan`);
    assert.equal(without.status, 422);
    const exactZero = await sb.raw('GET', `${CM}?resourceVersion=0&resourceVersionMatch=Exact`);
    assert.equal(exactZero.status, 422);
    const unknown = await sb.raw('GET', `${CM}?resourceVersion=1&resourceVersionMatch=Sometime`);
    assert.equal(unknown.status, 422);
  });

  test('non-numeric resourceVersion and timeoutSeconds are 400', async () => {
    assert.equal((await sb.raw('GET', `${CM}?resourceVersion=abc`)).status, 400);
    assert.equal((await sb.raw('GET', `${CM}?watch=1&timeoutSeconds=soon`)).status, 400);
  });
});

describe('watch timeoutSeconds', () => {
  test('a negative timeout ends the stream at once, after the initial events', async () => {
    const lines = await watchLines(`${CM}?watch=1&timeoutSeconds=-5&fieldSelector=metadata.name%3Done`);
    assert.equal(lines.length, 1);
  });

  test('a timeout beyond the 32-bit timer range keeps the watch open', async () => {
    const token = sb.kc.getCurrentUser()?.token ?? '';
    const controller = new AbortController();
    const response = await fetch(`${sb.server.url}${CM}?watch=1&timeoutSeconds=4000000&fieldSelector=metadata.name%3Dlater`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    const reader = response.body!.getReader();
    await sb.raw('POST', CM, { body: { metadata: { name: 'later' } } });
    const { value, done } = await reader.read();
    assert.equal(done, false, 'the stream is still open when the object is created');
    assert.match(Buffer.from(value!).toString(), /"ADDED".*"later"/);
    controller.abort();
  });
});

test('the Python client: dry_run="All" writes nothing, dry_run="Bogus" is 422, a future resource_version is 504', { skip: skipUnlessPythonKubernetes('query checks through the Python client') }, async () => {
  const out = await runPython(
    join(dir, 'kubeconfig'),
    `
v1 = client.CoreV1Api(api)
dry = call(v1.create_namespaced_config_map, "default", {"metadata": {"name": "py-dry"}}, dry_run="All")
after = call(v1.read_namespaced_config_map, "py-dry", "default")
bogus = call(v1.create_namespaced_config_map, "default", {"metadata": {"name": "py-dry"}}, dry_run="Bogus")
future = call(v1.list_namespaced_config_map, "default", resource_version="99999999")
emit({"dry": dry["metadata"]["name"], "after": after["status"], "bogus": bogus["status"], "future": future["status"]})
`,
  );
  assert.deepEqual(out, { dry: 'py-dry', after: 404, bogus: 422, future: 504 });
});

test('a request line past the header limit gets 431 with a plain-text body, as Go\'s net/http answers', async () => {
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect(sb.server.port, '127.0.0.1', () => socket.write(`GET /api/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let text = '';
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (chunk) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(reply, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  assert.match(reply, /Content-Type: text\/plain; charset=utf-8/);
  assert.match(reply, /\r\n\r\n431 Request Header Fields Too Large$/);
});
