/**
 * What clients learn before they act: /version, legacy and aggregated discovery, OpenAPI v3 for
 * kubectl's field validation, CRD versions — and the `meridian apiserver` command, over HTTPS,
 * used by @kubernetes/client-node through the kubeconfig it writes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { freePort, waitFor } from './helpers/net.ts';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { skipUnless } from './helpers/services.ts';

let sb: Sandbox;
before(async () => {
  sb = await startSandbox({ name: 'discovery' });
});
after(() => sb.close());

describe('discovery', () => {
  test('/version answers like a 1.32 server', async () => {
    const version = await sb.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(version.major, '1');
    assert.equal(version.minor, '32');
  });

  test('legacy discovery: /api, /apis, /api/v1 and /apis/apps/v1 with subresources', async () => {
    assert.deepEqual((await sb.raw('GET', '/api')).body.versions, ['v1']);
    const groups = (await sb.raw('GET', '/apis')).body.groups.map((g: any) => g.name);
    for (const group of ['apps', 'policy', 'coordination.k8s.io', 'apiextensions.k8s.io', 'events.k8s.io']) assert.ok(groups.includes(group), group);
    const core = (await sb.raw('GET', '/api/v1')).body.resources.map((r: any) => r.name);
    for (const name of ['namespaces', 'namespaces/status', 'configmaps', 'secrets', 'services', 'serviceaccounts', 'pods', 'pods/status', 'events']) assert.ok(core.includes(name), name);
    const apps = (await sb.raw('GET', '/apis/apps/v1')).body.resources;
    const scale = apps.find((r: any) => r.name === 'deployments/scale');
    assert.equal(scale.kind, 'Scale');
    assert.equal(scale.group, 'autoscaling');
    assert.equal((await sb.raw('GET', '/apis/nope.example.com/v1')).status, 404);
  });

  test('aggregated discovery for the core group', async () => {
    const doc = await sb.raw('GET', '/api', { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' });
    assert.equal(doc.body.kind, 'APIGroupDiscoveryList');
    const resources = doc.body.items[0].versions[0].resources;
    const pods = resources.find((r: any) => r.resource === 'pods');
    assert.equal(pods.scope, 'Namespaced');
    assert.deepEqual(pods.shortNames, ['po']);
  });

  test('OpenAPI v3: an index per group version, PATCH operations with the GVK and fieldValidation', async () => {
    const index = await sb.raw('GET', '/openapi/v3');
    const url = index.body.paths['apis/apps/v1'].serverRelativeURL;
    assert.match(url, /^\/openapi\/v3\/apis\/apps\/v1\?hash=/);
    const doc = (await sb.raw('GET', url)).body;
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: 'apps', version: 'v1', kind: 'Deployment' });
    assert.ok(patch.parameters.some((p: any) => p.name === 'fieldValidation'));
  });

  test('a CRD with two versions serves both from one storage', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'dials.test.meridian.dev' },
      spec: {
        group: 'test.meridian.dev',
        scope: 'Cluster',
        names: { plural: 'dials', kind: 'Dial' },
        versions: ['v1alpha1', 'v1'].map((name) => ({ name, served: true, storage: name === 'v1', schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { level: { type: 'integer' } } } } } } })),
      },
    };
    assert.equal((await sb.raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd })).status, 201);
    await sb.custom.createClusterCustomObject({ group: 'test.meridian.dev', version: 'v1alpha1', plural: 'dials', body: { apiVersion: 'test.meridian.dev/v1alpha1', kind: 'Dial', metadata: { name: 'd' }, spec: { level: 3 } } });
    const asV1: any = await sb.custom.getClusterCustomObject({ group: 'test.meridian.dev', version: 'v1', plural: 'dials', name: 'd' });
    assert.equal(asV1.apiVersion, 'test.meridian.dev/v1');
    assert.equal(asV1.spec.level, 3);
    assert.equal(asV1.metadata.namespace, undefined, 'cluster-scoped');
  });
});

// The command serves HTTPS by default, with a self-signed certificate made by openssl.
describe('meridian apiserver command', { skip: skipUnless('openssl', 'the meridian apiserver command scenario') }, () => {
  let dir: string;
  let child: ReturnType<typeof spawn> | undefined;
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('serves HTTPS on the given port and writes a kubeconfig client-node can use', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
    const port = await freePort();
    const kubeconfig = join(dir, 'kubeconfig');
    const root = new URL('..', import.meta.url).pathname;
    child = spawn(process.execPath, ['bin/meridian.ts', 'apiserver', '--port', String(port), '--name', 'cli-region', '--kubeconfig-out', kubeconfig, '--log-level', 'warn'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await waitFor(() => existsSync(kubeconfig) && readFileSync(kubeconfig, 'utf8').includes('token'), { what: `kubeconfig (stderr: ${stderr})`, timeoutMs: 30_000 });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    assert.equal(kc.getCurrentContext(), 'cli-region');
    assert.equal(kc.getCurrentCluster()!.server, `https://127.0.0.1:${port}`);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'from-cli' } } });
    const read = await core.readNamespacedConfigMap({ namespace: 'default', name: 'from-cli' });
    assert.equal(read.metadata!.uid, created.metadata!.uid, 'stored and read back over HTTPS');
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'a clean exit on SIGTERM');
  });
});
