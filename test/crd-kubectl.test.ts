/**
 * The RealtimeCluster CRD as an SRE meets it: real `kubectl` against the sandbox API emulator.
 * Skips loudly when kubectl or openssl is not on PATH (fails under CI=true).
 *
 * kubectl (client-go's clientcmd) sends credentials only over TLS, so the emulator serves HTTPS
 * (`tls: true`) and kubectl uses the kubeconfig the emulator writes, as it is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { API_VERSION, KIND } from '../crds/types.ts';
import { startApiServer, type ApiServerHandle } from './helpers/apiserver.ts';
import { skipUnless } from './helpers/services.ts';
import { waitFor } from './helpers/net.ts';
import { runCommand, type CommandResult } from './helpers/run-command.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const CRD = join(root, 'crds/realtime.meridian.dev_realtimeclusters.yaml');
const MINIMAL = join(root, 'crds/samples/realtimecluster-minimal.yaml');
const TWO_REGIONS = join(root, 'crds/samples/realtimecluster-two-regions.yaml');
const NAMESPACE = 'tenants';
/** One kubectl call may take this long on a busy machine before the test gives up on it. */
const KUBECTL_TIMEOUT_MS = 60_000;

// HTTPS (kubectl sends the token only over TLS) needs openssl for the self-signed certificate.
const skip = skipUnless(['kubectl', 'openssl'], 'the kubectl scenarios of the RealtimeCluster CRD');

describe('kubectl and the RealtimeCluster CRD', { skip }, () => {
  let server: ApiServerHandle;
  let dir: string;

  /** Runs kubectl asynchronously (the emulator serves from this same process). */
  function kubectl(args: string[], input?: string, kubeconfig = 'kubeconfig'): Promise<CommandResult> {
    return runCommand('kubectl', [`--kubeconfig=${join(dir, kubeconfig)}`, `--cache-dir=${join(dir, 'cache')}`, ...args], { timeoutMs: KUBECTL_TIMEOUT_MS, input });
  }

  /** kubectl that must succeed; returns its output. */
  async function ok(args: string[], input?: string, kubeconfig?: string): Promise<string> {
    const result = await kubectl(args, input, kubeconfig);
    assert.equal(result.status, 0, `kubectl ${args.join(' ')} failed:\n${result.stderr}`);
    return result.stdout;
  }

  before(async () => {
    server = await startApiServer({ port: 0, name: 'crd-kubectl', tls: true });
    dir = mkdtempSync(join(tmpdir(), 'meridian-crd-kubectl-'));
    writeFileSync(join(dir, 'kubeconfig'), server.kubeconfig(), { mode: 0o600 });
  });

  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('kubectl apply registers the CRD, and rtc resolves once it is established', async () => {
    assert.match(await ok(['apply', '-f', CRD]), /customresourcedefinition\.apiextensions\.k8s\.io\/realtimeclusters\.realtime\.meridian\.dev (created|configured)/);
    // `kubectl create namespace` would send protobuf, which the emulator does not decode; apply sends JSON.
    await ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }));
    await waitFor(async () => (await kubectl(['get', 'rtc', '-n', NAMESPACE])).status === 0, { what: 'kubectl get rtc to resolve the short name', timeoutMs: 30_000 });
    const resources = await ok(['api-resources', '--api-group=realtime.meridian.dev']);
    assert.match(resources, /realtimeclusters\s+rtc\s+realtime\.meridian\.dev\/v1alpha1\s+true\s+RealtimeCluster/);
  });

  test('both samples apply, and defaults are filled in by the API server', async () => {
    assert.match(await ok(['apply', '-n', NAMESPACE, '-f', MINIMAL]), /realtimecluster\.realtime\.meridian\.dev\/study-rooms created/);
    assert.match(await ok(['apply', '-n', NAMESPACE, '-f', TWO_REGIONS]), /realtimecluster\.realtime\.meridian\.dev\/classrooms created/);
    const minimal = JSON.parse(await ok(['get', 'rtc', 'study-rooms', '-n', NAMESPACE, '-o', 'json']));
    assert.equal(minimal.spec.gateway.maxConnectionsPerPod, 20000);
    assert.deepEqual(minimal.spec.gateway.history, { size: 300, ttlSeconds: 600 });
    assert.deepEqual(minimal.spec.gateway.limits, { maxMessageBytes: 65536, messagesPerSecond: 50, roomsPerConnection: 100 });
    assert.equal(minimal.spec.autoscaling.targetConnectionsPerPod, 10000);
    assert.equal(minimal.spec.regions[0].namespace, 'meridian');
    assert.equal(minimal.spec.paused, false);
    assert.equal(minimal.metadata.generation, 1);
  });

  test('kubectl get rtc shows NAME PHASE REGIONS CONNECTIONS AGE, filled from status', async () => {
    await ok(['patch', 'rtc', 'classrooms', '-n', NAMESPACE, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Ready', regionsReady: '2/2', connections: 18234 } })]);
    const table = await ok(['get', 'rtc', '-n', NAMESPACE]);
    const [header, ...rows] = table.trim().split('\n');
    assert.deepEqual(header.trim().split(/\s+/), ['NAME', 'PHASE', 'REGIONS', 'CONNECTIONS', 'AGE']);
    const classrooms = rows.find((row) => row.startsWith('classrooms'));
    assert.ok(classrooms, table);
    assert.deepEqual(classrooms.trim().split(/\s+/).slice(0, 4), ['classrooms', 'Ready', '2/2', '18234']);
    assert.ok(rows.some((row) => row.startsWith('study-rooms')), table);
    const wide = await ok(['get', 'rtc', '-n', NAMESPACE, '-o', 'wide']);
    assert.deepEqual(wide.split('\n')[0].trim().split(/\s+/), ['NAME', 'PHASE', 'REGIONS', 'CONNECTIONS', 'PAUSED', 'AGE']);
  });

  test('the meridian category lists RealtimeClusters', async () => {
    assert.match(await ok(['get', 'meridian', '-n', NAMESPACE]), /^classrooms\s+Ready\s+2\/2\s+18234/m);
  });

  test('kubectl describe rtc prints the spec and the status', async () => {
    const text = await ok(['describe', 'rtc', 'classrooms', '-n', NAMESPACE]);
    assert.match(text, /Name:\s+classrooms/);
    assert.match(text, /Kind:\s+RealtimeCluster/);
    assert.match(text, /Max Connections Per Pod:\s+20000/);
    assert.match(text, /Regions Ready:\s+2\/2/);
  });

  test('kubectl explain prints the field descriptions from the schema', async () => {
    const text = await ok(['explain', 'rtc.spec.autoscaling.targetConnectionsPerPod']);
    assert.match(text, /Connections per pod the autoscaler aims for/);
  });

  test('an invalid RealtimeCluster is rejected with a message naming each bad field', async () => {
    const invalid = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: 'broken', namespace: NAMESPACE },
      spec: {
        gateway: { image: 'meridian:0.1.0', auth: { jwksUrl: 'https://auth.example.com/jwks.json' }, maxConnectionsPerPod: 0 },
        regions: [{ name: 'US_East' }],
        ai: { strategy: 'cheapest' },
      },
    };
    const result = await kubectl(['apply', '-f', '-'], JSON.stringify(invalid));
    assert.notEqual(result.status, 0, 'the API server accepted an invalid RealtimeCluster');
    assert.match(result.stderr, /spec\.regions\[0\]\.name/);
    assert.match(result.stderr, /spec\.gateway\.maxConnectionsPerPod/);
    assert.match(result.stderr, /spec\.ai\.strategy/);
    assert.equal((await kubectl(['get', 'rtc', 'broken', '-n', NAMESPACE])).status, 1, 'nothing was stored');
  });

  test('a RealtimeCluster without regions is rejected naming spec.regions', async () => {
    const result = await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: 'no-regions', namespace: NAMESPACE },
      spec: { gateway: { image: 'meridian:0.1.0', auth: { jwksUrl: 'https://auth.example.com/jwks.json' } }, regions: [] },
    }));
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /spec\.regions/);
  });
});
