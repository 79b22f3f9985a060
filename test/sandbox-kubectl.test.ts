/**
 * Real `kubectl` against the API emulator through the kubeconfig it writes: discovery, get with
 * Table columns, apply (client-side and server-side), describe, scale, diff, delete, and a CRD
 * with printer columns and validation. Skips loudly without kubectl or openssl (fails under CI=true).
 * The emulator serves HTTPS here: kubectl sends the bearer token only over TLS.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { waitFor } from './helpers/net.ts';
import { skipUnless } from './helpers/services.ts';
import { startSandbox, widgetCrd, type Sandbox } from './helpers/apiserver.ts';

/** One kubectl call may take this long on a busy machine. */
const KUBECTL_TIMEOUT_MS = 60_000;

// HTTPS (kubectl sends the token only over TLS) needs openssl for the self-signed certificate.
const skip = skipUnless(['kubectl', 'openssl'], 'the kubectl conformance tests');

let sb: Sandbox;
let dir: string;

/** Runs kubectl asynchronously (the emulator answers from this same process). */
function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args],
      { timeout: KUBECTL_TIMEOUT_MS, env: { ...process.env, HOME: dir } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const result = await kubectl(...args);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function manifest(file: string, ...docs: unknown[]): string {
  const path = join(dir, file);
  writeFileSync(path, docs.map((d) => stringify(d)).join('---\n'));
  return path;
}

const web = (image: string, replicas = 2) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image, ports: [{ containerPort: 80 }] }] } },
  },
});

describe('kubectl against the emulator', { skip }, () => {
  before(async () => {
    sb = await startSandbox({ name: 'kubectl-conformance', tls: true, readyDelayMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'sandbox-kubectl-'));
    await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  });
  after(async () => {
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('get namespaces prints the Table columns', async () => {
    const out = await ok('get', 'namespaces');
    assert.match(out, /^NAME\s+STATUS\s+AGE/);
    assert.match(out, /\ndefault\s+Active\s+\d+s/);
  });

  test('api-resources lists kinds with short names', async () => {
    const out = await ok('api-resources');
    assert.match(out, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
    assert.match(out, /poddisruptionbudgets\s+pdb\s+policy\/v1/);
  });

  test('apply creates, reconfigures and server-side applies; get and describe show the result', async () => {
    const file = manifest('web.yaml', web('nginx:1.27'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: '1' } });
    assert.match(await ok('apply', '-f', file), /deployment.apps\/web created\nconfigmap\/settings created/);
    await waitFor(async () => (await ok('get', 'deploy', 'web', '-o', 'jsonpath={.status.readyReplicas}')) === '2', { what: 'two ready', timeoutMs: 30_000 });
    const table = await ok('get', 'deploy');
    assert.match(table, /NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+2\/2\s+2\s+2\s+/);
    const pods = await ok('get', 'pods', '-l', 'app=web');
    assert.match(pods, /NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
    assert.equal(pods.trim().split('\n').length, 3);

    const changed = manifest('web2.yaml', web('nginx:1.28'));
    assert.match(await ok('apply', '-f', changed), /deployment.apps\/web configured/);
    assert.match(await ok('apply', '--server-side', '-f', changed), /deployment.apps\/web serverside-applied/);
    const described = await ok('describe', 'deployment', 'web');
    assert.match(described, /Image:\s+nginx:1.28/);
    assert.match(described, /Replicas:\s+2 desired/);
  });

  test('scale, diff and delete', async () => {
    assert.match(await ok('scale', 'deploy', 'web', '--replicas=3'), /scaled/);
    assert.equal(await ok('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}'), '3');
    const diff = await kubectl('diff', '-f', manifest('web3.yaml', web('nginx:1.29', 3)));
    assert.equal(diff.code, 1, `diff exits 1 when there are differences: ${diff.stderr}`);
    assert.match(diff.stdout, /-\s+- image: nginx:1.28\n\+\s+- image: nginx:1.29/);
    assert.equal(await ok('get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), 'nginx:1.28', 'diff changed nothing');
    assert.match(await ok('delete', 'deploy', 'web'), /deployment.apps "web" deleted/);
    await waitFor(async () => (await ok('get', 'pods', '-l', 'app=web', '-o', 'name')).trim() === '', { what: 'pods collected', timeoutMs: 30_000 });
  });

  test('a CRD applied with kubectl serves its kind with printer columns, and rejects invalid objects naming the field', async () => {
    await ok('apply', '-f', manifest('crd.yaml', widgetCrd));
    await ok('apply', '-f', manifest('widget.yaml', { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { replicas: 2, regions: [{ name: 'us-east1' }] } }));
    const out = await ok('get', 'wd');
    assert.match(out, /^NAME\s+SIZE\s+REPLICAS\s+READY\s+AGE\nw1\s+small\s+2\s+/);
    const bad = await kubectl('apply', '-f', manifest('bad.yaml', { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w2' }, spec: { regions: [{ name: 'Bad_Name' }] } }));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec.regions\[0\].name: Invalid value: "Bad_Name": spec.regions\[0\].name in body should match/);
    const unknown = await kubectl('apply', '-f', manifest('unknown.yaml', { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w3' }, spec: { regions: [], colour: 'red' } }));
    assert.notEqual(unknown.code, 0, 'kubectl asks for strict field validation');
    assert.match(unknown.stderr, /strict decoding error: unknown field "spec.colour"/);
  });
});
