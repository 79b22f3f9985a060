/**
 * Real kubectl against the emulator for what a platform team types first: the imperative
 * `kubectl create namespace|secret|configmap` (protobuf bodies), the `Warning:` kubectl prints
 * for a dropped unknown field (`--validate=warn`, the server default), `--validate=strict` refusing it,
 * and `kubectl apply` of a RealtimeCluster that breaks a CEL rule of the CRD (422 with the rule's
 * message). Skips loudly without kubectl (fails under CI=true).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { startSandbox, widgetCrd, type Sandbox } from './helpers/apiserver.ts';
import { skipUnless } from './helpers/services.ts';

/** One kubectl call may take this long on a busy machine. */
const KUBECTL_TIMEOUT_MS = 60_000;
const skip = skipUnless('kubectl', 'the kubectl conformance tests');
const root = new URL('..', import.meta.url);

let sb: Sandbox;
let dir: string;

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

async function ok(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await kubectl(...args);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

function manifest(file: string, doc: unknown): string {
  const path = join(dir, file);
  writeFileSync(path, stringify(doc));
  return path;
}

describe('kubectl conformance', { skip }, () => {
  before(async () => {
    sb = await startSandbox({ name: 'kubectl-conformance-2', tls: true, readyDelayMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'conformance-kubectl-'));
    await sb.server.writeKubeconfig(join(dir, 'kubeconfig'));
  });
  after(async () => {
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('kubectl create namespace|secret|configmap (protobuf bodies) create what they say', async () => {
    assert.match((await ok('create', 'namespace', 'team')).stdout, /namespace\/team created/);
    assert.match((await ok('create', 'secret', 'generic', 's', '--from-literal=k=v', '-n', 'team')).stdout, /secret\/s created/);
    assert.match((await ok('create', 'configmap', 'c', '--from-literal=k=v', '--from-literal=a=b', '-n', 'team')).stdout, /configmap\/c created/);
    const ns = await sb.core.readNamespace({ name: 'team' });
    assert.equal(ns.metadata!.labels!['kubernetes.io/metadata.name'], 'team');
    const secret = await sb.core.readNamespacedSecret({ namespace: 'team', name: 's' });
    assert.deepEqual([secret.type, Buffer.from(secret.data!.k, 'base64').toString()], ['Opaque', 'v']);
    const cm = await sb.core.readNamespacedConfigMap({ namespace: 'team', name: 'c' });
    assert.deepEqual(cm.data, { a: 'b', k: 'v' });
    assert.equal(cm.metadata!.managedFields?.[0]?.manager, 'kubectl-create');
  });

  test('an unknown field is dropped with a Warning kubectl prints; --validate=strict refuses it', async () => {
    await ok('apply', '-f', manifest('widget-crd.yaml', widgetCrd));
    const widget = { apiVersion: 'test.meridian.dev/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { regions: [{ name: 'a' }], foo: 1 } };
    const strict = await kubectl('apply', '--validate=strict', '-f', manifest('strict.yaml', widget));
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /unknown field "spec\.foo"/);
    const warned = await ok('apply', '--validate=warn', '-f', manifest('warn.yaml', widget));
    assert.match(warned.stderr, /Warning: unknown field "spec\.foo"/);
    const stored = JSON.parse((await ok('get', 'widget', 'w', '-n', 'default', '-o', 'json')).stdout);
    assert.equal(stored.spec.foo, undefined);
  });

  test('kubectl apply of a RealtimeCluster that breaks a CEL rule is refused with the rule\'s message', async () => {
    await ok('apply', '-f', join(root.pathname, 'crds/realtime.meridian.dev_realtimeclusters.yaml'));
    const sample = parse(readFileSync(new URL('crds/samples/realtimecluster-two-regions.yaml', root), 'utf8'));
    sample.metadata.namespace = 'default';
    const inverted = structuredClone(sample);
    inverted.spec.autoscaling = { minReplicas: 10, maxReplicas: 5 };
    const refused = await kubectl('apply', '-f', manifest('inverted.yaml', inverted));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /autoscaling\.minReplicas must not exceed autoscaling\.maxReplicas/);
    const noRedis = structuredClone(sample);
    delete noRedis.spec.regions[0].redis;
    const refusedRedis = await kubectl('apply', '-f', manifest('no-redis.yaml', noRedis));
    assert.notEqual(refusedRedis.code, 0);
    assert.match(refusedRedis.stderr, /spec\.regions: Required value: a region that may run more than one pod needs redis/);
    const single = structuredClone(noRedis);
    single.spec.regions[0].maxReplicas = 1;
    single.spec.regions[0].minReplicas = 1;
    assert.match((await ok('apply', '-f', manifest('single.yaml', single))).stdout, /created/);
  });

  test('a CRD whose rule the emulator cannot evaluate is refused at registration, naming the rule', async () => {
    const crd = structuredClone(widgetCrd) as any;
    crd.metadata.name = 'gadgets.test.meridian.dev';
    crd.spec.names = { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' };
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec['x-kubernetes-validations'] = [{ rule: 'self.owner.matches("^[a-z]+$")', message: 'lower case' }];
    const refused = await kubectl('apply', '-f', manifest('gadget-crd.yaml', crd));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /x-kubernetes-validations\[0\]\.rule: Invalid value: .*cannot enforce this rule: function 'matches' is not supported/);
  });
});
