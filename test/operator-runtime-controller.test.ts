/**
 * The whole operator (controller, informers, queue, region pool, the real reconciler) running
 * in this process against three API emulators: a hub and two regions. Each scenario drives it
 * only through the APIs, as a user or a failing network would, and sets up its own cluster
 * (and deletes it), so that any one of them can run alone or in any order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseOperatorArgs, startOperator, type RunningOperator } from '../operator/main.ts';
import type { RealtimeCluster } from '../crds/types.ts';
import { clusterSpec, createCluster, deleteCluster, getCluster, patchCluster, regionDeployment, startSandbox, writeCounts, type RegionName, type Sandbox } from './operator-reconcile-harness.ts';
import { waitFor } from './helpers/net.ts';

let sandbox: Sandbox;
let operator: RunningOperator;

const logger = pino({ level: process.env.MERIDIAN_TEST_LOG ?? 'silent' });

before(async () => {
  sandbox = await startSandbox();
  await sandbox.pool.stop(); // the harness's own pool is not used here: the operator builds its own
  const dir = mkdtempSync(join(tmpdir(), 'meridian-controller-'));
  const kubeconfig = join(dir, 'hub.yaml');
  writeFileSync(kubeconfig, sandbox.hub.kubeconfig());
  const args = parseOperatorArgs(
    ['--kubeconfig', kubeconfig, '--no-leader-elect', '--metrics-host', '127.0.0.1', '--metrics-port', '0', '--probe-interval-ms', '300', '--workers', '2'],
    {},
  );
  operator = await startOperator(args, {}, logger);
  await waitFor(() => operator.controller()?.synced, { what: 'the controller caches', timeoutMs: 15_000 });
});

after(async () => {
  operator?.stop();
  await operator?.done;
  await sandbox?.close();
});

function phaseOf(cluster: RealtimeCluster | undefined, region?: RegionName): string | undefined {
  if (!region) return cluster?.status?.phase;
  return cluster?.status?.regions?.find((r) => r.name === region)?.phase;
}

async function waitForCluster(name: string, check: (cluster: RealtimeCluster) => boolean, what: string, timeoutMs = 30_000): Promise<RealtimeCluster> {
  let last: RealtimeCluster | undefined;
  try {
    return await waitFor(
      async () => {
        last = await getCluster(sandbox, name);
        return last && check(last) ? last : undefined;
      },
      { what, timeoutMs, intervalMs: 100 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
}

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name));
}

/** Failed informer requests and failed reconciles so far. */
async function errorCount(): Promise<number> {
  const lines = [...(await metric('meridian_operator_informer_errors_total')), ...(await metric('meridian_operator_reconcile_errors_total'))];
  return lines.filter((l) => !l.startsWith('#')).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** Waits until no key is queued, being reconciled, or waiting for a delayed retry or recheck. */
async function settled(): Promise<void> {
  const queue = operator.controller()!.queue;
  await waitFor(() => queue.length === 0 && queue.inFlight === 0 && queue.delayed === 0, { what: 'the queue to drain, delayed keys included', timeoutMs: 40_000 });
}

const everywhereReady = (c: RealtimeCluster) => c.status?.phase === 'Ready' && (c.status.regions ?? []).every((r) => r.phase === 'Ready' && r.readyReplicas === r.replicas);

/** A fresh cluster of this scenario's own, Ready in both regions. */
async function readyCluster(name: string): Promise<RealtimeCluster> {
  await createCluster(sandbox, name, clusterSpec());
  return waitForCluster(name, everywhereReady, `${name} Ready everywhere`);
}

/** Deletes a scenario's cluster and waits until its finalizer is released. */
async function removeCluster(name: string): Promise<void> {
  await deleteCluster(sandbox, name);
  await waitFor(async () => !(await getCluster(sandbox, name)), { what: `${name} deleted`, timeoutMs: 30_000 });
}

test('a new cluster gets its objects in both regions and turns Ready without any direct reconcile call', async () => {
  await createCluster(sandbox, 'alpha', clusterSpec());
  const cluster = await waitForCluster('alpha', (c) => c.status?.phase === 'Ready', 'alpha Ready');
  assert.equal(cluster.status?.regionsReady, '2/2');
  assert.equal(cluster.status?.observedGeneration, cluster.metadata.generation);
  for (const region of ['us-east1', 'europe-west1'] as const) assert.ok(await regionDeployment(sandbox, region, 'alpha'), `Deployment in ${region}`);
  assert.ok((await metric('meridian_operator_reconcile_total{outcome="success"}')).length > 0, 'reconciles are counted');
  await removeCluster('alpha');
});

test('a Deployment deleted in a region is put back by the owned-object watch', async () => {
  await readyCluster('delta');
  const apps = sandbox.regionConfigs['europe-west1'].makeApiClient(AppsV1Api);
  const before = await regionDeployment(sandbox, 'europe-west1', 'delta');
  await apps.deleteNamespacedDeployment({ name: 'delta-gateway', namespace: 'meridian' });
  const repaired = await waitFor(
    async () => {
      const deployment = await regionDeployment(sandbox, 'europe-west1', 'delta');
      return deployment && deployment.metadata?.uid !== before?.metadata?.uid ? deployment : undefined;
    },
    { what: 'the Deployment to be recreated', timeoutMs: 20_000 },
  );
  assert.ok(repaired.spec?.template.spec?.containers[0].image);
  await removeCluster('delta');
});

test('a resync with nothing changed reconciles every cluster and writes nothing', async () => {
  await readyCluster('epsilon');
  await settled();
  const writesBefore = writeCounts(sandbox);
  const reconcilesBefore = (await metric('meridian_operator_reconcile_duration_seconds_count'))[0];
  operator.controller()!.resync();
  await waitFor(async () => (await metric('meridian_operator_reconcile_duration_seconds_count'))[0] !== reconcilesBefore, { what: 'the resync to reconcile' });
  await settled();
  assert.deepEqual(writeCounts(sandbox), writesBefore, 'zero writes in the hub and in both regions');
  await removeCluster('epsilon');
});

test('a region going dark is Unknown while the other region takes a spec change; recovery converges', async () => {
  await createCluster(sandbox, 'beta', clusterSpec());
  await waitForCluster('beta', (c) => c.status?.phase === 'Ready', 'beta Ready');
  const dark = sandbox.regions['europe-west1'];
  await dark.faults.refuseConnections(true);
  try {
    await waitFor(async () => (await metric('meridian_operator_region_reachable{region="europe-west1"')).some((l) => l.endsWith(' 0')), {
      what: 'the probe to mark europe-west1 unreachable',
      timeoutMs: 15_000,
    });
    await patchCluster(sandbox, 'beta', { spec: { gateway: { image: 'meridian:0.2.0' } } });
    const during = await waitForCluster('beta', (c) => phaseOf(c, 'europe-west1') === 'Unknown' && c.status?.observedGeneration === c.metadata.generation, 'europe-west1 Unknown');
    assert.equal((await regionDeployment(sandbox, 'us-east1', 'beta'))?.spec?.template.spec?.containers[0].image, 'meridian:0.2.0', 'the reachable region is rolled out');
    assert.notEqual(phaseOf(during, 'us-east1'), 'Unknown');
  } finally {
    await dark.faults.refuseConnections(false);
  }
  await waitFor(async () => (await regionDeployment(sandbox, 'europe-west1', 'beta'))?.spec?.template.spec?.containers[0].image === 'meridian:0.2.0', {
    what: 'the recovered region to get the new image',
    timeoutMs: 30_000,
  });
  await waitForCluster('beta', (c) => c.status?.phase === 'Ready' && phaseOf(c, 'europe-west1') === 'Ready', 'beta Ready again');
  assert.ok(await regionDeployment(sandbox, 'us-east1', 'beta'), 'nothing was deleted while the region was dark');
  await removeCluster('beta');
});

test('throttling (429), server errors (503) and dropped watches on the hub and a region are retried until the cluster converges', async () => {
  const errorsBefore = await errorCount();
  // Dropped watches make the informers come straight back, into the injected failures.
  sandbox.hub.faults.dropWatches();
  sandbox.regions['us-east1'].faults.dropWatches();
  sandbox.hub.faults.failNext(4, 429, 0);
  sandbox.regions['us-east1'].faults.failNext(4, 503);
  // The test's own create may meet a failure too: it retries like any client.
  await waitFor(() => createCluster(sandbox, 'gamma', clusterSpec()).then(() => true), { what: 'gamma created' });
  sandbox.regions['europe-west1'].faults.dropWatches();
  const cluster = await waitForCluster('gamma', (c) => c.status?.phase === 'Ready', 'gamma Ready despite faults');
  assert.equal(cluster.status?.regionsReady, '2/2');
  assert.ok((await errorCount()) > errorsBefore, 'the operator met the failures and retried');
  await removeCluster('gamma');
});

test('deleting a cluster removes its objects from both regions', async () => {
  await readyCluster('zeta');
  await deleteCluster(sandbox, 'zeta');
  await waitFor(async () => !(await getCluster(sandbox, 'zeta')), { what: 'the finalizer to be released', timeoutMs: 20_000 });
  for (const region of ['us-east1', 'europe-west1'] as const) assert.equal(await regionDeployment(sandbox, region, 'zeta'), undefined, `no Deployment left in ${region}`);
});
