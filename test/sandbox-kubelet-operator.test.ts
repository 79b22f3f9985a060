/**
 * The operator end to end on the process runner: a RealtimeCluster applied to the hub becomes
 * real, Ready gateway processes in each region, configured from the operator's ConfigMap
 * (mounted as gateway.yaml) and Secret (environment), reachable over WebSocket and pods/proxy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { PORT_ANNOTATION } from '../sandbox/apiserver/index.ts';
import { signToken, TestClient } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { portOpen } from './helpers/services.ts';
import { clusterSpec, createCluster, reconcileUntil, REGIONS, startSandbox, type Sandbox } from './operator-reconcile-harness.ts';

let sandbox: Sandbox;

before(async () => {
  sandbox = await startSandbox({}, { kubelet: 'process', processRunner: { probeTimeScale: 0.1 } });
});
after(() => sandbox.close());

test('a RealtimeCluster becomes real, Ready gateway processes in every region', async () => {
  // The in-memory engine (no Redis: one pod per region), so that nothing leaves loopback.
  const spec = clusterSpec({
    autoscaling: { minReplicas: 1, maxReplicas: 1 },
    regions: REGIONS.map((name) => ({ name, kubeconfigSecretRef: { name: `region-${name}`, key: 'kubeconfig' } })),
  });
  const key = await createCluster(sandbox, 'live', spec);
  const cluster = await reconcileUntil(sandbox, key, (c) => c?.status?.phase === 'Ready', 'cluster Ready on real gateway processes', 60_000);
  assert.equal(cluster!.status!.regionsReady, '2/2');

  const ports: number[] = [];
  for (const region of REGIONS) {
    const core = sandbox.regionConfigs[region].makeApiClient(CoreV1Api);
    const pods: V1Pod[] = (await core.listNamespacedPod({ namespace: 'meridian', labelSelector: 'app.kubernetes.io/instance=live' })).items;
    assert.equal(pods.length, 1, `one gateway Pod in ${region}`);
    const [pod] = pods;
    assert.equal(pod.status!.podIP, '127.0.0.1');
    // Ready means the process started: `--config /etc/meridian/gateway.yaml` found the mounted ConfigMap (a missing file stops the gateway).
    assert.equal(pod.status!.containerStatuses![0].ready, true);
    const port = Number(pod.metadata!.annotations![PORT_ANNOTATION]);
    ports.push(port);
    // The operator's jwt secret reached the process through its region Secret.
    const client = await TestClient.connected(`ws://127.0.0.1:${port}/v1/ws`, await signToken('learner', { secret: 'test-jwt-secret' }));
    const connected = client.frames.find((f) => f.op === 'connected')!;
    assert.equal(connected.region, region, 'region from the mounted gateway.yaml and MERIDIAN_REGION');
    assert.equal(connected.node, pod.metadata!.name);
    const load = await fetch(`${sandbox.regions[region].url}/api/v1/namespaces/meridian/pods/${pod.metadata!.name}/proxy/loadz`, {
      headers: { authorization: `Bearer ${sandbox.regionConfigs[region].getCurrentUser()!.token}` },
    });
    assert.equal(load.status, 200);
    assert.equal(((await load.json()) as { connections: number }).connections, 1, '/loadz through pods/proxy counts the client');
    await client.close();
  }

  await sandbox.close();
  for (const port of ports) await waitFor(async () => !(await portOpen(port)), { what: `gateway on ${port} ended with its region` });
});
