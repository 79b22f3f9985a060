/**
 * The autoscaler end to end on the process runner: real gateway processes behind real Pods,
 * real WebSocket clients, the operator's Controller with its load monitor reading /loadz
 * through pods/proxy. Timings are shrunk through the spec and the controller's options (a load
 * period of 1.5 s, a scale-down window of 4 s), and every wait is for a condition.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { waitFor } from './helpers/net.ts';
import { autoscaleSpec, createRtc, gatewayDeployment, gatewayPods, patchRtc, portOf, publish, readRtc, readyGatewayPods, RoomClient, startAutoscaleCluster, type AutoscaleCluster } from './helpers/autoscale-cluster.ts';
import { HUB_NAMESPACE } from './operator-reconcile-harness.ts';

const PERIOD_MS = 2000;
const WINDOW_S = 4;
const NAME = 'classes';
let cluster: AutoscaleCluster;
const clients: RoomClient[] = [];

before(async () => {
  cluster = await startAutoscaleCluster({ loadPeriodMs: PERIOD_MS });
  await createRtc(
    cluster,
    NAME,
    autoscaleSpec(
      { targetConnectionsPerPod: 4, headroomPercent: 0, scaleDownStabilizationSeconds: WINDOW_S, maxDrainSharePercent: 60, rebalance: { enabled: false } },
      { min: 1, max: 4 },
      { min: 1, max: 1 },
    ),
  );
  await readyGatewayPods(cluster, 'us-east1', NAME, 1);
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.close();
});

async function events(reason: string) {
  const list = await cluster.hubConfig.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: HUB_NAMESPACE });
  return list.items.filter((e) => e.involvedObject.name === NAME && e.reason === reason);
}

const rounds = () => cluster.controller.autoscaler!.monitor.stats.rounds;

test('connections past the target add pods within two load periods; status and kubectl columns show them', async () => {
  const [pod] = await readyGatewayPods(cluster, 'us-east1', NAME, 1);
  // Opened together just after a round, so the next round usually sees all ten at once; one that
  // lands mid-way sees some and scales in two steps (1 → 2 → 3), which the checks below accept.
  const before = rounds();
  await waitFor(() => (rounds() > before ? true : undefined), { what: 'a load round to end', timeoutMs: 30_000, intervalMs: 20 });
  const start = rounds();
  clients.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => RoomClient.open(portOf(pod), `learner-${i}`, 'math')))));
  // 10 connections at 4 per pod and no headroom: 3 pods.
  await waitFor(async () => ((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas === 3 ? true : undefined), { what: 'replicas 3', timeoutMs: 60_000, intervalMs: 50 });
  assert.ok(rounds() - start <= 2, `scaled up within two load periods (${rounds() - start} rounds)`);
  const status = (await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    return rtc.status?.connections === 10 ? rtc : undefined;
  }, { what: 'status.connections 10', timeoutMs: 30_000 })).status!;
  const us = status.regions!.find((r) => r.name === 'us-east1')!;
  assert.equal(us.connections, 10);
  // What `kubectl get rtc` prints: the API server's Table with the Connections printer column.
  const table = (await (await fetch(`${cluster.hub.url}/apis/realtime.meridian.dev/v1alpha1/namespaces/${HUB_NAMESPACE}/realtimeclusters/${NAME}`, {
    headers: { authorization: `Bearer ${cluster.hubConfig.getCurrentUser()!.token}`, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  })).json()) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
  const column = table.columnDefinitions.findIndex((c) => c.name === 'Connections');
  assert.equal(table.rows[0].cells[column], 10, 'kubectl get rtc shows the connections');
  assert.equal(us.desiredReplicas, 3);
  assert.equal(us.scaling?.lastDecision?.direction, 'Up');
  assert.equal(us.scaling?.lastDecision?.reason, 'Connections');
  const from = us.scaling?.lastDecision?.fromReplicas;
  assert.ok(from === 1 || from === 2, `the last step up started from 1 or 2 pods (${from})`);
  assert.match(us.scaling!.lastDecision!.message, /10 connections/);
  const steps = (await events('ScaledUp')).map((e) => e.message ?? '');
  const path = from === 1 ? [/us-east1: 1 → 3 pods/] : [/us-east1: 1 → 2 pods/, /us-east1: 2 → 3 pods/];
  for (const step of path) assert.ok(steps.some((m) => step.test(m)), `a ScaledUp Event ${step} (${JSON.stringify(steps)})`);
  const metric = await cluster.metrics.registry.getSingleMetricAsString('meridian_operator_scaling_decisions_total');
  assert.match(metric, new RegExp(`region="us-east1",direction="up",reason="Connections"\\} ${path.length}`));
  await readyGatewayPods(cluster, 'us-east1', NAME, 3);
});

test('a removed pod has time to drain: the grace period covers the preStop pause and the gateway\'s drain deadline', async () => {
  const [pod] = await gatewayPods(cluster, 'us-east1', NAME);
  const config = await cluster.regions['us-east1'].kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: `${NAME}-gateway-config`, namespace: 'meridian' });
  const drain = parse(config.data!['gateway.yaml']).drain as { windowMs: number; deadlineMs: number };
  const pause = pod.spec!.containers[0].lifecycle!.preStop!.sleep!.seconds!;
  assert.ok(drain.windowMs <= drain.deadlineMs, 'closes are spread within the deadline');
  assert.ok(pod.spec!.terminationGracePeriodSeconds! >= pause + drain.deadlineMs / 1000 + 1, `grace ${pod.spec!.terminationGracePeriodSeconds} s ≥ pause ${pause} s + deadline ${drain.deadlineMs} ms + a margin`);
});

test('connections fall: pods go only after the window, one step per window, the emptiest first, its clients closed with 1012 and recovered elsewhere', async () => {
  const pods = await readyGatewayPods(cluster, 'us-east1', NAME, 3);
  const [a, b, c] = pods.sort((x, y) => x.metadata!.name!.localeCompare(y.metadata!.name!)).map((p) => ({ name: p.metadata!.name!, port: portOf(p) }));
  // The first pod holds the 10 clients; find it by its port.
  const original = clients.map((cl) => cl);
  // Put 2 clients on each new pod, then leave 2 on the original pod: b and c hold 2, one of them gets 1 after a close.
  const holder = [a, b, c].find((p) => original.length > 0 && p.port === Number(new URL(original[0].client.ws.url).port))!;
  const others = [a, b, c].filter((p) => p !== holder);
  const onB = [await RoomClient.open(others[0].port, 'b-1', 'math'), await RoomClient.open(others[0].port, 'b-2', 'math')];
  const onC = [await RoomClient.open(others[1].port, 'c-1', 'math')];
  clients.push(...onB, ...onC);
  const closedAt = Date.now();
  // 10 → 2 on the original pod: 2 + 2 + 1 = 5 connections, 2 pods would do; c (1 client) is the emptiest.
  for (const client of original.slice(2)) await client.close();
  const published: number[] = [];
  const publisher = setInterval(() => void publish(holder.port, 'math', `tick ${published.length}`).then((offset) => published.push(offset)), 100);
  try {
    let seen = '';
    const down = await waitFor(async () => {
      const rtc = await readRtc(cluster, NAME);
      const scaling = rtc.status?.regions?.find((r) => r.name === 'us-east1')?.scaling;
      seen = `${scaling?.state}: ${scaling?.message}`;
      return scaling?.lastDecision?.direction === 'Down' ? scaling.lastDecision : undefined;
    }, { what: 'a scale-down decision', timeoutMs: 90_000, intervalMs: 100 }).catch((error: Error) => {
      throw new Error(`${error.message}; last scaling status: ${seen}`);
    });
    assert.equal(down.fromReplicas, 3);
    assert.equal(down.toReplicas, 2);
    assert.ok(Date.parse(down.time) - closedAt >= WINDOW_S * 1000, `the scale-down waited for the window (${Date.parse(down.time) - closedAt} ms)`);
    // The deletion cost was set from live connections before replicas were lowered.
    const victim = await waitFor(async () => (await gatewayPods(cluster, 'us-east1', NAME)).find((p) => p.metadata?.deletionTimestamp), { what: 'a pod terminating', timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(victim.metadata!.name, others[1].name, 'the emptiest pod is the one removed');
    assert.equal(victim.metadata!.annotations!['controller.kubernetes.io/pod-deletion-cost'], '1');
    // Its client is closed with 1012 (never 1006), reconnects elsewhere and recovers every message.
    const code = await onC[0].client.closed;
    assert.equal(code.code, 1012);
    await new Promise((r) => setTimeout(r, 300));
    await onC[0].reconnect(holder.port);
  } finally {
    clearInterval(publisher);
  }
  await new Promise((r) => setTimeout(r, 300));
  const last = Math.max(...published);
  await waitFor(() => onC[0].offsets.has(last), { what: 'the recovered client has every message', timeoutMs: 30_000 });
  const first = Math.min(...published);
  for (let offset = first; offset <= last; offset++) assert.ok(onC[0].offsets.has(offset), `offset ${offset} reached the client that moved`);
  await readyGatewayPods(cluster, 'us-east1', NAME, 2);

  // One step per window: drop to 3 connections (1 pod would do); the next step waits a full window after the first.
  await onB[0].close();
  await original[0].close();
  const second = await waitFor(async () => {
    const rtc = await readRtc(cluster, NAME);
    const decision = rtc.status?.regions?.find((r) => r.name === 'us-east1')?.scaling?.lastDecision;
    return decision?.direction === 'Down' && decision.toReplicas === 1 ? decision : undefined;
  }, { what: 'the second scale-down', timeoutMs: 90_000, intervalMs: 100 });
  const firstDown = (await events('ScaledDown')).length;
  assert.ok(firstDown >= 2, 'each step is an Event');
  assert.ok(Date.parse(second.time) - closedAt >= 2 * WINDOW_S * 1000, 'the second step came at least a window after the first');
  const moved = [onB[1], original[1], onC[0]].filter((c) => !c.open);
  for (const client of [...moved, ...onB, ...original.slice(0, 2)]) assert.ok(!client.closes.includes(1006), `${client.user} was never cut without a close frame`);
  await readyGatewayPods(cluster, 'us-east1', NAME, 1);
});

test('load that cannot be read holds replicas (a hung gateway), and paused freezes scaling', async () => {
  const [pod] = await readyGatewayPods(cluster, 'us-east1', NAME, 1);
  const runner = cluster.regions['us-east1'].runner;
  const proc = runner.processes().find((p) => p.name === pod.metadata!.name)!;
  // The pod holds clients; it stops answering (SIGSTOP keeps its sockets open, as a hung process does).
  process.kill(proc.pid, 'SIGSTOP');
  try {
    const stale = await waitFor(async () => {
      const us = (await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === 'us-east1');
      return us?.scaling?.state === 'LoadStale' ? us : undefined;
    }, { what: 'LoadStale in status', timeoutMs: 60_000, intervalMs: 100 });
    assert.match(stale.scaling!.message, /replicas held/);
    const held = rounds();
    await waitFor(() => rounds() >= held + 3, { what: 'three more load rounds', timeoutMs: 60_000 });
    assert.equal((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas, 1, 'replicas held while load is stale');
    assert.ok((await events('ScalingHeld')).some((e) => /us-east1: replicas held/.test(e.message ?? '')), 'a ScalingHeld Event says why');
  } finally {
    process.kill(proc.pid, 'SIGCONT');
  }
  await waitFor(async () => ((await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === 'us-east1')?.scaling?.state !== 'LoadStale' ? true : undefined), { what: 'load fresh again', timeoutMs: 60_000, intervalMs: 100 });

  // Paused: connections past the target change nothing.
  await patchRtc(cluster, NAME, { spec: { paused: true } });
  await waitFor(async () => ((await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === 'us-east1')?.scaling?.state === 'Paused' ? true : undefined), { what: 'Paused in status', timeoutMs: 60_000, intervalMs: 100 });
  const port = portOf(pod);
  for (let i = 0; i < 9; i++) clients.push(await RoomClient.open(port, `paused-${i}`, 'math'));
  const start = rounds();
  await waitFor(() => rounds() >= start + 3, { what: 'three load rounds while paused', timeoutMs: 60_000 });
  assert.equal((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas, 1, 'paused: no scaling');
  await patchRtc(cluster, NAME, { spec: { paused: false } });
  await waitFor(async () => (((await gatewayDeployment(cluster, 'us-east1', NAME)).spec?.replicas ?? 0) > 1 ? true : undefined), { what: 'scaling resumes', timeoutMs: 60_000, intervalMs: 100 });
});

test('a gateway killed with SIGKILL is restarted, and its clients recover on the other pods', async () => {
  const pods = await waitFor(async () => {
    const list = (await gatewayPods(cluster, 'us-east1', NAME)).filter((p) => !p.metadata?.deletionTimestamp);
    return list.length >= 2 && list.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? list : undefined;
  }, { what: 'two or more Ready pods', timeoutMs: 180_000, intervalMs: 200 });
  const [victim, survivor] = pods.map((p) => ({ name: p.metadata!.name!, port: portOf(p), restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0 }));
  const mine = [await RoomClient.open(victim.port, 'k-1', 'science'), await RoomClient.open(victim.port, 'k-2', 'science')];
  clients.push(...mine);
  const before = await publish(survivor.port, 'science', 'before');
  await waitFor(() => mine.every((c) => c.offsets.has(before)), { what: 'clients got the first message' });
  const proc = cluster.regions['us-east1'].runner.processes().find((p) => p.name === victim.name)!;
  process.kill(proc.pid, 'SIGKILL');
  await Promise.all(mine.map((c) => c.client.closed));
  const during = await publish(survivor.port, 'science', 'while they were away');
  for (const client of mine) await client.reconnect(survivor.port);
  await waitFor(() => mine.every((c) => c.offsets.has(during)), { what: 'recovered on the survivor' });
  const restarted = await waitFor(async () => {
    const pod = (await gatewayPods(cluster, 'us-east1', NAME)).find((p) => p.metadata!.name === victim.name);
    return (pod?.status?.containerStatuses?.[0]?.restartCount ?? 0) > victim.restarts && pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? pod : undefined;
  }, { what: 'the killed gateway restarted and Ready', timeoutMs: 180_000, intervalMs: 200 });
  assert.equal(restarted.metadata!.name, victim.name, 'the same Pod, restarted in place');
});
