/**
 * The process runner: gateway Pods of the API emulator run as real `meridian gateway`
 * processes on loopback, reached by real WebSocket clients and through pods/proxy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { METRICS_PORT_ANNOTATION, processRunner, type ProcessRunner } from '../sandbox/apiserver/index.ts';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { signToken, TestClient } from './helpers/gateway.ts';
import { portOpen } from './helpers/services.ts';
import { waitFor } from './helpers/net.ts';
import { gatewayDeployment, isPodReady, podsOf, portOf, processExists, readyPods, recordPod } from './helpers/process-pods.ts';

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const JWT_SECRET = 'kubelet-scenario-secret-long-enough-for-hs256';
const API_KEY = 'kubelet-scenario-api-key';

/** The gateway container's environment: ConfigMap, Secret, downward API and envFrom with a prefix. */
const gatewayEnv: Partial<k8s.V1Container> = {
  env: [
    { name: 'MERIDIAN_REGION', valueFrom: { configMapKeyRef: { name: 'gw-settings', key: 'region' } } },
    { name: 'MERIDIAN_NODE', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'MERIDIAN_JWT_SECRET', valueFrom: { secretKeyRef: { name: 'gw-auth', key: 'jwt-secret' } } },
    { name: 'NOT_THERE', valueFrom: { configMapKeyRef: { name: 'no-such-config', key: 'x', optional: true } } },
    // Closes on SIGTERM spread over 100 ms: the client sees 1012 soon after the signal.
    { name: 'MERIDIAN_DRAIN_WINDOW_MS', value: '100' },
    { name: 'MERIDIAN_DRAIN_DEADLINE_MS', value: '3000' },
  ],
  envFrom: [{ prefix: 'MERIDIAN_', secretRef: { name: 'gw-keys' } }],
  lifecycle: { preStop: { sleep: { seconds: 1 } } },
};

describe('process runner: gateway Pods as real processes', () => {
  let sb: Sandbox;
  let runner: ProcessRunner;
  let stateDir: string;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'meridian-kubelet-test-'));
    runner = processRunner({ stateDir, probeTimeScale: 0.1, restartBackoffMs: 300, restartBackoffMaxMs: 3000 });
    sb = await startSandbox({ name: 'kubelet', podRunner: runner });
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gw-settings' }, data: { region: 'eu-kubelet' } } });
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'gw-auth' }, stringData: { 'jwt-secret': JWT_SECRET } } });
    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'gw-keys' }, data: { API_KEY: Buffer.from(API_KEY).toString('base64') } } });
    await sb.apps.createNamespacedDeployment({ namespace: 'default', body: gatewayDeployment('gw', 2, gatewayEnv) });
  });
  after(async () => {
    await sb.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('a Deployment of 2 replicas becomes 2 gateway processes answering WebSocket connects on their port and /readyz through pods/proxy', async () => {
    const pods = await readyPods(sb, 'gw', 2);
    const ports = pods.map(portOf);
    assert.notEqual(ports[0], ports[1], 'each Pod has its own port');
    assert.ok(ports.every((port) => port !== 8080), 'the port is not the containerPort');
    const processes = runner.processes();
    assert.deepEqual(processes.map((p) => p.port).sort(), [...ports].sort(), 'one process per Pod, on the Pod port');
    assert.ok(processes.every((p) => processExists(p.pid)));
    for (const pod of pods) {
      assert.equal(pod.status!.podIP, '127.0.0.1');
      assert.equal(pod.status!.phase, 'Running');
      const status = pod.status!.containerStatuses![0];
      assert.ok(status.state!.running, 'container running');
      assert.equal(status.ready, true);
      const client = await TestClient.connected(`ws://127.0.0.1:${portOf(pod)}/v1/ws`, await signToken('ada', { secret: JWT_SECRET }));
      const connected = client.frames.find((f) => f.op === 'connected')!;
      assert.equal(connected.region, 'eu-kubelet', 'MERIDIAN_REGION came from the ConfigMap');
      assert.equal(connected.node, pod.metadata!.name, 'MERIDIAN_NODE came from fieldRef metadata.name');
      await client.close();
      const readyz = await sb.raw('GET', `/api/v1/namespaces/default/pods/${pod.metadata!.name}/proxy/readyz`);
      assert.equal(readyz.status, 200);
      assert.equal(readyz.body.ready, true);
      // envFrom with a prefix: the Secret's API_KEY is the gateway's MERIDIAN_API_KEY.
      const presence = await fetch(`http://127.0.0.1:${portOf(pod)}/v1/rooms/lobby/presence`, { headers: { authorization: `Bearer ${API_KEY}` } });
      assert.equal(presence.status, 200);
      const wrongKey = await fetch(`http://127.0.0.1:${portOf(pod)}/v1/rooms/lobby/presence`, { headers: { authorization: 'Bearer wrong' } });
      assert.equal(wrongKey.status, 401);
      // Each Pod's metrics listener has a port of its own, on loopback, named by an annotation.
      const metricsPort = Number(pod.metadata!.annotations![METRICS_PORT_ANNOTATION]);
      assert.ok(metricsPort > 0 && !ports.includes(metricsPort), `metrics port ${metricsPort}`);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /meridian_connections/);
    }
    const logs = readdirSync(stateDir).filter((d) => d.startsWith('default_gw-'));
    assert.equal(logs.length, 2, 'one directory per Pod');
    assert.match(readFileSync(join(stateDir, logs[0], 'logs', 'gateway', '0.log'), 'utf8'), /gateway listening/);
  });

  test('a missing required Secret keeps the Pod waiting with CreateContainerConfigError until the Secret exists', async () => {
    await sb.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gatewayDeployment('late', 1, { env: [{ name: 'MERIDIAN_JWT_SECRET', valueFrom: { secretKeyRef: { name: 'late-auth', key: 'jwt-secret' } } }] }),
    });
    const waiting = await waitFor(
      async () => {
        const [pod] = await podsOf(sb, 'late');
        return pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? pod : undefined;
      },
      { what: 'CreateContainerConfigError', timeoutMs: 15_000 },
    );
    assert.equal(waiting.status!.phase, 'Pending');
    assert.equal(waiting.status!.containerStatuses![0].state!.waiting!.message, 'secret "late-auth" not found');
    assert.equal(isPodReady(waiting), false);
    assert.equal(runner.processes().filter((p) => p.name === waiting.metadata!.name).length, 0, 'no process yet');
    const table = await sb.raw('GET', `/api/v1/namespaces/default/pods/${waiting.metadata!.name}`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.equal(table.body.rows[0].cells[2], 'CreateContainerConfigError', 'kubectl get pods shows the reason');

    await sb.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'late-auth' }, stringData: { 'jwt-secret': JWT_SECRET } } });
    const [pod] = await readyPods(sb, 'late', 1);
    assert.equal(pod.status!.containerStatuses![0].restartCount, 0);
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'late' });
  });

  test('a ConfigMap volume holds the Pod in ContainerCreating until it exists, then the gateway reads its mounted config file', async () => {
    await sb.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gatewayDeployment(
        'mounted',
        1,
        {
          // $(CONFIG_FILE) expands from the env, and /etc/gw/ is rewritten to the Pod's volume directory.
          args: ['gateway', '--config', '/etc/gw/$(CONFIG_FILE)'],
          env: [{ name: 'CONFIG_FILE', value: 'gateway.yaml' }],
          volumeMounts: [{ name: 'config', mountPath: '/etc/gw', readOnly: true }],
        },
        { volumes: [{ name: 'config', configMap: { name: 'mounted-config', items: [{ key: 'settings', path: 'gateway.yaml' }] } }] },
      ),
    });
    const waiting = await waitFor(
      async () => {
        const [pod] = await podsOf(sb, 'mounted');
        return pod?.status?.containerStatuses?.[0]?.state?.waiting?.message?.startsWith('MountVolume.SetUp failed') ? pod : undefined;
      },
      { what: 'waiting for the volume', timeoutMs: 15_000 },
    );
    assert.equal(waiting.status!.containerStatuses![0].state!.waiting!.reason, 'ContainerCreating');
    assert.equal(waiting.status!.containerStatuses![0].state!.waiting!.message, 'MountVolume.SetUp failed for volume "config" : configmap "mounted-config" not found');

    const settings = `region: from-file\nport: 8080\njwt:\n  secret: ${JWT_SECRET}\n`;
    await sb.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'mounted-config' }, data: { settings } } });
    const [pod] = await readyPods(sb, 'mounted', 1);
    const client = await TestClient.connected(`ws://127.0.0.1:${portOf(pod)}/v1/ws`, await signToken('reader', { secret: JWT_SECRET }));
    assert.equal(client.frames.find((f) => f.op === 'connected')!.region, 'from-file', 'the region came from the mounted file');
    await client.close();
    const dir = readdirSync(stateDir).find((d) => d.startsWith(`default_${pod.metadata!.name}_`))!;
    assert.equal(readFileSync(join(stateDir, dir, 'volumes', 'config', 'gateway.yaml'), 'utf8'), settings);
    await sb.apps.deleteNamespacedDeployment({ namespace: 'default', name: 'mounted' });
  });

  test('a deleted Pod runs preStop, then SIGTERM: its client is closed with 1012, and the Pod goes once the process has exited', async () => {
    const [pod] = await readyPods(sb, 'gw', 2);
    const name = pod.metadata!.name!;
    const { pid } = runner.processes().find((p) => p.name === name)!;
    const client = await TestClient.connected(`ws://127.0.0.1:${portOf(pod)}/v1/ws`, await signToken('grace', { secret: JWT_SECRET }));
    const recorder = await recordPod(sb, name);
    const deletedAt = Date.now();
    await sb.core.deleteNamespacedPod({ namespace: 'default', name });
    const terminating = await sb.core.readNamespacedPod({ namespace: 'default', name });
    assert.ok(terminating.metadata!.deletionTimestamp, 'graceful deletion: deletionTimestamp first');
    assert.equal(terminating.metadata!.deletionGracePeriodSeconds, 10, 'the grace period from terminationGracePeriodSeconds');
    assert.ok(processExists(pid), 'the process runs through the preStop hook');

    const { code } = await client.closed;
    const closedAfterMs = Date.now() - deletedAt;
    assert.equal(code, 1012, 'the gateway drained on SIGTERM (1012, not 1006)');
    assert.ok(closedAfterMs >= 1000, `SIGTERM came after the 1 s preStop sleep (client closed after ${closedAfterMs} ms)`);
    await waitFor(() => recorder.deleted(), { what: 'Pod removed', timeoutMs: 15_000 });
    assert.equal(processExists(pid), false, 'the process had exited when the Pod was removed');
    recorder.stop();
    const log = readdirSync(stateDir).find((d) => d.startsWith(`default_${name}_`))!;
    const lines = readFileSync(join(stateDir, log, 'logs', 'gateway', '0.log'), 'utf8');
    assert.match(lines, /"signal":"SIGTERM".*"msg":"stopping"/, 'stopped by SIGTERM');
    assert.match(lines, /"msg":"drained"/, 'drained before SIGKILL was due');
    await readyPods(sb, 'gw', 2);
  });

  test('a gateway killed with SIGKILL is restarted after a back-off: restartCount 1, lastState.terminated, CrashLoopBackOff between', async () => {
    const [pod] = await readyPods(sb, 'gw', 2);
    const name = pod.metadata!.name!;
    const port = portOf(pod);
    const { pid } = runner.processes().find((p) => p.name === name)!;
    const recorder = await recordPod(sb, name);
    process.kill(pid, 'SIGKILL');

    const restarted = await waitFor(
      async () => {
        const live = await sb.core.readNamespacedPod({ namespace: 'default', name });
        const status = live.status?.containerStatuses?.[0];
        return status?.restartCount === 1 && status.ready ? live : undefined;
      },
      { what: 'restarted and Ready', timeoutMs: 20_000 },
    );
    recorder.stop();
    const status = restarted.status!.containerStatuses![0];
    assert.equal(status.lastState!.terminated!.exitCode, 137);
    assert.equal(status.lastState!.terminated!.signal, 9);
    assert.equal(status.lastState!.terminated!.reason, 'Error');
    const backOff = recorder.versions.map((v) => v.status?.containerStatuses?.[0]?.state?.waiting).find((w) => w?.reason === 'CrashLoopBackOff');
    assert.ok(backOff, 'the watch saw waiting: CrashLoopBackOff');
    assert.match(backOff.message!, new RegExp(`^back-off 300ms restarting failed container=gateway pod=${name}_default\\(`));
    assert.ok(recorder.versions.some((v) => v.status?.containerStatuses?.[0]?.ready === false), 'not Ready while down');
    assert.equal(portOf(restarted), port, 'the Pod keeps its port across restarts');
    const now = runner.processes().find((p) => p.name === name)!;
    assert.notEqual(now.pid, pid, 'a new process');
    const client = await TestClient.connected(`ws://127.0.0.1:${port}/v1/ws`, await signToken('again', { secret: JWT_SECRET }));
    await client.close();
    const log = readdirSync(stateDir).find((d) => d.startsWith(`default_${name}_`))!;
    assert.deepEqual(readdirSync(join(stateDir, log, 'logs', 'gateway')).sort(), ['0.log', '1.log'], 'one log per run');
    const podLog = async (query: string) => {
      const response = await fetch(`${sb.server.url}/api/v1/namespaces/default/pods/${name}/log${query}`, { headers: { authorization: `Bearer ${sb.kc.getCurrentUser()!.token}` } });
      assert.equal(response.status, 200);
      return response.text();
    };
    assert.equal(await podLog(''), readFileSync(join(stateDir, log, 'logs', 'gateway', '1.log'), 'utf8'), 'pods/log serves the current run');
    const killedRun = readFileSync(join(stateDir, log, 'logs', 'gateway', '0.log'), 'utf8');
    assert.equal(await podLog('?previous=true&tailLines=1'), `${killedRun.trimEnd().split('\n').at(-1)}\n`, 'previous=true serves the killed run');
  });

  test('scaling down removes the Pod with the lowest pod-deletion-cost, and its process exits', async () => {
    const pods = await readyPods(sb, 'gw', 2);
    const [keep, cheap] = pods;
    await sb.core.patchNamespacedPod({ namespace: 'default', name: keep.metadata!.name!, body: { metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '100' } } } }, mergePatch);
    await sb.core.patchNamespacedPod({ namespace: 'default', name: cheap.metadata!.name!, body: { metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '-5' } } } }, mergePatch);
    const cheapPid = runner.processes().find((p) => p.name === cheap.metadata!.name)!.pid;
    const keepPid = runner.processes().find((p) => p.name === keep.metadata!.name)!.pid;
    await sb.apps.patchNamespacedDeployment({ namespace: 'default', name: 'gw', body: { spec: { replicas: 1 } } }, mergePatch);
    const [left] = await readyPods(sb, 'gw', 1);
    assert.equal(left.metadata!.name, keep.metadata!.name, 'the Pod with the higher deletion cost stays');
    await waitFor(() => !processExists(cheapPid), { what: 'the removed Pod\'s process gone' });
    assert.ok(processExists(keepPid));
  });

  test('closing the emulator ends every process it started and frees their ports', async () => {
    const running = runner.processes();
    assert.ok(running.length >= 1);
    await sb.close();
    for (const { pid, port } of running) {
      assert.equal(processExists(pid), false, `process ${pid} ended`);
      assert.equal(await portOpen(port), false, `port ${port} freed`);
    }
    assert.deepEqual(runner.processes(), []);
  });
});

describe('meridian apiserver --kubelet process', () => {
  test('runs a gateway Deployment as a process and ends it on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meridian-apiserver-kubelet-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const bin = new URL('../bin/meridian.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, 'apiserver', '--no-tls', '--kubelet', 'process', '--probe-time-scale', '0.1', '--kubelet-state-dir', dir, '--kubeconfig-out', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stdout.includes('kubeconfig written'), { what: 'apiserver started', timeoutMs: 20_000 });
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);
      const sb = { core: kc.makeApiClient(k8s.CoreV1Api) } as Sandbox;
      await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({ namespace: 'default', body: gatewayDeployment('cli', 1, { env: [{ name: 'MERIDIAN_JWT_SECRET', value: JWT_SECRET }] }) });
      const [pod] = await readyPods(sb, 'cli', 1);
      const started = stdout.split('\n').filter((line) => line.includes('gateway process started')).map((line) => JSON.parse(line));
      assert.equal(started.length, 1);
      const pid: number = started[0].pid;
      assert.equal(started[0].port, portOf(pod));
      assert.ok(processExists(pid));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(processExists(pid), false, 'the gateway ended with the apiserver');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
