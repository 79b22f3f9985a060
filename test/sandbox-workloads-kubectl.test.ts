/**
 * Real `kubectl` reads the emulator's workloads as it reads a cluster's: ReplicaSets listed with
 * their columns, `rollout status` following the Deployment's status and conditions to the end of
 * a rollout, `rollout history` from the ReplicaSets' revisions, and `scale` moving the ReplicaSet.
 * Skips loudly without kubectl (fails under CI=true).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { waitFor } from './helpers/net.ts';
import { skipUnless } from './helpers/services.ts';

/** One kubectl call may take this long on a busy machine. */
const KUBECTL_TIMEOUT_MS = 60_000;

const skip = skipUnless('kubectl', 'the kubectl workload scenarios');

let sb: Sandbox;
let dir: string;

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { timeout: KUBECTL_TIMEOUT_MS, env: { ...process.env, HOME: dir } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const result = await kubectl(...args);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

const web = (image: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image }] } },
  },
});

function manifest(file: string, doc: unknown): string {
  const path = join(dir, file);
  writeFileSync(path, stringify(doc));
  return path;
}

describe('kubectl and workloads', { skip }, () => {
  before(async () => {
    sb = await startSandbox({ name: 'kubectl-workloads', tls: true, readyDelayMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'sandbox-workloads-'));
    await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  });
  after(async () => {
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('rollout status follows a rollout to the end; get rs and rollout history show the revisions', async () => {
    await ok('apply', '-f', manifest('v1.yaml', web('nginx:1.27')));
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=60s'), /deployment "web" successfully rolled out/);
    await ok('apply', '-f', manifest('v2.yaml', web('nginx:1.28')));
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=60s'), /successfully rolled out/);
    const sets = await ok('get', 'rs', '-l', 'app=web');
    assert.match(sets, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n/);
    assert.match(sets, /\nweb-\w+\s+3\s+3\s+3\s+/);
    assert.match(sets, /\nweb-\w+\s+0\s+0\s+0\s+/);
    const history = await ok('rollout', 'history', 'deployment/web');
    assert.match(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
  });

  test('scale moves the current ReplicaSet', async () => {
    assert.match(await ok('scale', 'deployment', 'web', '--replicas=1'), /scaled/);
    await waitFor(async () => (await ok('get', 'rs', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.replicas}')).trim().split(/\s+/).map(Number).sort().join() === '0,1', { what: 'one Pod left', timeoutMs: 30_000 });
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=60s'), /successfully rolled out/);
  });
});
