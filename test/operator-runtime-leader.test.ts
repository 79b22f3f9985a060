/**
 * Two `meridian operator` processes against one hub emulator: exactly one leads; when the
 * leader is killed without releasing, the other takes over once the Lease expires; a leader
 * stopped with SIGTERM releases the Lease.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoordinationV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { realtimeClusterCrdModel } from '../crds/crd.ts';
import { startApiServer } from '../sandbox/apiserver/index.ts';
import { freePort, waitFor } from './helpers/net.ts';

const LEASE = { name: 'meridian-operator', namespace: 'default' };

interface OperatorProcess {
  name: string;
  child: ChildProcess;
  port: number;
  output: string[];
  exited: Promise<number | null>;
}

async function startOperatorProcess(name: string, kubeconfigFile: string): Promise<OperatorProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      'bin/meridian.ts', 'operator',
      '--kubeconfig', kubeconfigFile,
      '--metrics-host', '127.0.0.1', '--metrics-port', String(port),
      '--identity', name,
      '--lease-namespace', LEASE.namespace,
      // Short timings keep the failover quick; their ratios are the defaults' (15 / 10 / 2).
      '--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '400',
      '--log-level', 'info',
    ],
    { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, port, output, exited };
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A hub emulator with the CRD installed, its kubeconfig written to a file for the operator processes. */
async function startHub(): Promise<{ hub: Awaited<ReturnType<typeof startApiServer>>; kubeconfigFile: string; leases: CoordinationV1Api }> {
  const hub = await startApiServer({ port: 0, name: 'hub' });
  const kubeconfigFile = join(mkdtempSync(join(tmpdir(), 'meridian-leader-')), 'hub.yaml');
  writeFileSync(kubeconfigFile, hub.kubeconfig());
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(hub.kubeconfig());
  await kubeConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
  return { hub, kubeconfigFile, leases: kubeConfig.makeApiClient(CoordinationV1Api) };
}

async function isLeaderPerMetrics(operator: OperatorProcess): Promise<boolean> {
  const { body } = await httpGet(operator.port, '/metrics');
  return /^meridian_operator_leader 1$/m.test(body);
}

test('two operator processes elect one leader; killing it hands the Lease to the other; SIGTERM releases it', async (t) => {
  const { hub, kubeconfigFile, leases } = await startHub();
  const readLease = async (): Promise<V1Lease | undefined> => leases.readNamespacedLease(LEASE).catch(() => undefined);

  const operators = [await startOperatorProcess('op-a', kubeconfigFile), await startOperatorProcess('op-b', kubeconfigFile)];
  t.after(async () => {
    for (const operator of operators) if (operator.child.exitCode === null && operator.child.signalCode === null) operator.child.kill('SIGKILL');
    await Promise.all(operators.map((o) => o.exited));
    await hub.close();
  });
  const dump = () => operators.map((o) => `--- ${o.name}\n${o.output.join('').slice(-3000)}`).join('\n');
  // Both processes serve their endpoints before anything is asked of them (a busy machine may start one late).
  for (const operator of operators) {
    await waitFor(async () => (await httpGet(operator.port, '/healthz')).status === 200, { what: `${operator.name} serving /healthz`, timeoutMs: 20_000 });
  }

  const firstHolder = await waitFor(async () => (await readLease())?.spec?.holderIdentity, { what: 'a leader', timeoutMs: 20_000 }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${dump()}`);
  });
  const leader = operators.find((o) => firstHolder.startsWith(`${o.name}-`));
  const standby = operators.find((o) => o !== leader);
  assert.ok(leader && standby, `the holder '${firstHolder}' is one of the two operators`);

  await waitFor(() => isLeaderPerMetrics(leader), { what: 'the leader to report itself leading', timeoutMs: 10_000 });
  assert.equal(await isLeaderPerMetrics(standby), false, 'the other replica does not lead');
  assert.equal((await httpGet(standby.port, '/readyz')).status, 200, 'a standby is ready (it can take over)');
  await waitFor(async () => (await httpGet(leader.port, '/readyz')).status === 200, { what: 'the leader ready once its caches synced', timeoutMs: 10_000 });
  const transitionsBefore = (await readLease())?.spec?.leaseTransitions ?? 0;

  leader.child.kill('SIGKILL'); // no release: the standby must wait for the Lease to expire
  await leader.exited;
  await waitFor(
    async () => {
      const holder = (await readLease())?.spec?.holderIdentity;
      return holder?.startsWith(`${standby.name}-`) ? holder : undefined;
    },
    { what: 'the standby to take the expired Lease', timeoutMs: 20_000 },
  );
  await waitFor(() => isLeaderPerMetrics(standby), { what: 'the new leader to report itself leading', timeoutMs: 10_000 });
  assert.ok(((await readLease())?.spec?.leaseTransitions ?? 0) > transitionsBefore, 'the takeover counts as a transition');

  standby.child.kill('SIGTERM');
  assert.equal(await standby.exited, 0, `a stopped leader exits 0\n${dump()}`);
  assert.equal((await readLease())?.spec?.holderIdentity ?? '', '', 'the Lease was released on shutdown');
});

test('a leader that cannot renew its Lease within the renew deadline stops leading and exits 1', async (t) => {
  const { hub, kubeconfigFile, leases } = await startHub();
  const operator = await startOperatorProcess('op-c', kubeconfigFile);
  t.after(async () => {
    if (operator.child.exitCode === null && operator.child.signalCode === null) operator.child.kill('SIGKILL');
    await operator.exited;
    await hub.faults.refuseConnections(false);
    await hub.close();
  });
  await waitFor(async () => (await leases.readNamespacedLease(LEASE).catch(() => undefined))?.spec?.holderIdentity?.startsWith('op-c-'), { what: 'op-c leading', timeoutMs: 20_000 });
  await hub.faults.refuseConnections(true);
  assert.equal(await operator.exited, 1, `exit code 1 after losing the Lease\n${operator.output.join('').slice(-2000)}`);
  assert.match(operator.output.join(''), /lost the leader lease/);
});
