/**
 * `kubectl meridian status` with live figures: a hub and two regions on the process runner (every
 * gateway Pod a real `meridian gateway` process with its region's redis-server), the operator's
 * controller reading each Pod's /loadz, and a fake OpenAI server as the paid provider. Before any
 * traffic the rates are 0 (measured), never guessed; after a client publishes, the region's
 * message rates are non-zero in the table and in -o json; after one AI request, the region's and
 * the cluster's spend today are read from the shared tally and shown against the budget, with the
 * day's provider mix; once
 * traffic stops and the rates settle, load rounds go on without a status write. Last, the relay
 * is turned on over the Pub/Sub emulator and the emulator killed with no traffic: the status says
 * relayState Degraded in both regions (the gateways' heartbeats and silence check). Skips
 * loudly without kubectl or redis-server (fails under CI=true); the relay scenario without the emulator.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { RealtimeCluster } from '../crds/types.ts';
import { autoscaleSpec, createRtc, gatewayPods, JWT_SECRET, patchRtc, portOf, readRtc, readyGatewayPods, startAutoscaleCluster, type AutoscaleCluster } from './helpers/autoscale-cluster.ts';
import { askAi, FakeAiServer } from './helpers/fake-ai.ts';
import { signToken, TestClient } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { runCommand, type CommandResult } from './helpers/run-command.ts';
import { skipUnless, skipUnlessPubsubEmulator, startPubsubEmulator, type PubsubEmulator } from './helpers/services.ts';
import { base64Values, HUB_NAMESPACE } from './operator-reconcile-harness.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const NAME = 'lessons';
const KUBECTL_TIMEOUT_MS = 60_000;
/** USD per million tokens: high enough that one small answer costs cents, low enough that its reservation fits the budget. */
const PRICE = 1000;

const skip = skipUnless(['kubectl', 'redis-server'], 'kubectl meridian status with live traffic');

describe('kubectl meridian status shows what the gateways measured', { skip, timeout: 600_000 }, () => {
  let cluster: AutoscaleCluster;
  let openai: FakeAiServer;
  let dir: string;
  let kubeconfig: string;
  let env: NodeJS.ProcessEnv;
  let client: TestClient | undefined;
  let emulator: PubsubEmulator | undefined;

  function meridian(args: string[]): Promise<CommandResult> {
    return runCommand('kubectl', ['meridian', ...args, '--kubeconfig', kubeconfig], { timeoutMs: KUBECTL_TIMEOUT_MS, env });
  }

  async function status(args: string[] = []): Promise<string> {
    const result = await meridian(['status', NAME, '-n', HUB_NAMESPACE, ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  }

  /** The table's row of `region`, as cells (columns are separated by three spaces or more). */
  function row(out: string, region: string): Record<string, string> {
    const lines = out.split('\n');
    const header = lines.find((line) => line.startsWith('REGION '))!.split(/\s{3,}/);
    const cells = lines.find((line) => line.startsWith(`${region} `))!.split(/\s{3,}/);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]]));
  }

  const regionStatus = async (region: string) => (await readRtc(cluster, NAME)).status?.regions?.find((r) => r.name === region);

  before(async () => {
    cluster = await startAutoscaleCluster({ loadPeriodMs: 1000 });
    openai = await FakeAiServer.start('openai');
    await cluster.hubConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: HUB_NAMESPACE, body: { metadata: { name: 'ai-keys' }, data: base64Values({ openai: openai.apiKey }) } });
    const spec = autoscaleSpec({ rebalance: { enabled: false } }, { min: 1, max: 1 }, { min: 1, max: 1 });
    await createRtc(cluster, NAME, {
      ...spec,
      ai: {
        strategy: 'cost',
        dailyBudgetUsd: 25,
        userDailyBudgetUsd: 25,
        providers: [{ name: 'openai', model: 'gpt-test', apiKeySecretRef: { name: 'ai-keys', key: 'openai' }, baseUrl: openai.baseUrl, inputUsdPer1M: PRICE, outputUsdPer1M: PRICE }, { name: 'local' }],
      },
    });
    await readyGatewayPods(cluster, 'us-east1', NAME, 1);
    await readyGatewayPods(cluster, 'europe-west1', NAME, 1);

    dir = mkdtempSync(join(tmpdir(), 'meridian-kubectl-traffic-'));
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, cluster.hub.kubeconfig(), { mode: 0o600 });
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(join(root, 'bin/kubectl-meridian.ts'), join(bin, 'kubectl-meridian'));
    env = { ...process.env, PATH: [bin, dirname(process.execPath), process.env.PATH].join(':'), HOME: dir, KUBECONFIG: '' };
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    await cluster?.close();
    await openai?.close();
    await emulator?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('message rates: measured 0 before traffic, non-zero in and out after a client publishes, in the table and in -o json', async () => {
    // Before traffic: the rates are known (read from /loadz) and zero.
    await waitFor(async () => ((await regionStatus('us-east1'))?.messagesPerSecond ? true : undefined), { what: 'us-east1 message rates in status', timeoutMs: 60_000, intervalMs: 200 });
    const [pod] = await readyGatewayPods(cluster, 'us-east1', NAME, 1);
    client = await TestClient.connected(`ws://127.0.0.1:${portOf(pod)}/v1/ws`, await signToken('ada', { secret: JWT_SECRET }));
    assert.equal((await client.request({ op: 'subscribe', room: 'algebra' })).op, 'subscribed');
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        await client!.request({ op: 'publish', room: 'algebra', data: { text: `step ${i}` } });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await waitFor(async () => {
        const rates = (await regionStatus('us-east1'))?.messagesPerSecond;
        return rates && rates.in > 0 && rates.out > 0 ? rates : undefined;
      }, { what: 'non-zero us-east1 rates in status', timeoutMs: 60_000, intervalMs: 200 });
      const table = await status();
      const us = row(table, 'us-east1');
      const [rateIn, rateOut] = us['MSG/S IN/OUT'].split('/').map(Number);
      assert.ok(rateIn > 0 && rateOut > 0, `us-east1 shows its rates: ${us['MSG/S IN/OUT']}`);
      assert.equal(row(table, 'europe-west1')['MSG/S IN/OUT'], '0/0', 'europe-west1 measured no traffic');
      const json = JSON.parse(await status(['-o', 'json']));
      const usJson = json.regions.find((r: { name: string }) => r.name === 'us-east1');
      assert.ok(usJson.messagesPerSecond.in > 0 && usJson.messagesPerSecond.out > 0, JSON.stringify(usJson.messagesPerSecond));
    } finally {
      publishing = false;
      await publisher;
    }
  });

  test('AI spend: one paid request shows up as the region\'s and the cluster\'s spend today, against the budget', async () => {
    const before = await status(['-o', 'json']);
    const spentBefore = JSON.parse(before).ai.spentTodayUsd ?? 0;
    const { end } = await askAi(client!, 9001, 'chat', { prompt: 'What is a prime number?' });
    assert.equal(end.op, 'ai_done', JSON.stringify(end));
    assert.equal(end.provider, 'openai');
    const expected = ((end.tokens.input + end.tokens.output) * PRICE) / 1e6;
    const ai = await waitFor(async () => {
      const cluster_ = (await readRtc(cluster, NAME)) as RealtimeCluster;
      return (cluster_.status?.ai?.spentTodayUsd ?? 0) > spentBefore ? cluster_.status!.ai! : undefined;
    }, { what: 'the AI spend in status', timeoutMs: 60_000, intervalMs: 200 });
    assert.equal(ai.day, new Date().toISOString().slice(0, 10));
    assert.ok(Math.abs(ai.spentTodayUsd - spentBefore - expected) < 2e-6, `spent ${ai.spentTodayUsd - spentBefore} USD, the answer's usage costs ${expected}`);
    assert.equal(ai.regionDailyBudgetUsd, 25);
    assert.equal(ai.dailyBudgetUsd, 50, 'budgets are per region: 25 × 2 regions');
    assert.equal(ai.regionsReporting, 2);
    // Today's provider mix: the one paid request, from us-east1's per-provider tally (europe-west1 answered none).
    assert.deepEqual(ai.providers, [{ name: 'openai', requests: 1, spentUsd: ai.spentTodayUsd }]);

    const json = JSON.parse(await status(['-o', 'json']));
    assert.equal(json.ai.spentTodayUsd, ai.spentTodayUsd);
    assert.ok(json.regions.find((r: { name: string }) => r.name === 'us-east1').aiSpentTodayUsd > 0);
    assert.equal(json.regions.find((r: { name: string }) => r.name === 'europe-west1').aiSpentTodayUsd, 0, 'europe-west1 spent nothing (its own tally)');
    const table = await status();
    assert.match(table, new RegExp(`^AI spend:\\s+\\$\\d+\\.\\d+ of \\$50\\.00 daily budget \\(${ai.day}; \\$25\\.00 per region × 2, 2 reporting\\)$`, 'm'));
    assert.match(table, /^AI mix today: openai 100% \(1 req, \$\d+\.\d+\)$/m);
    assert.deepEqual(json.ai.providers, ai.providers);
    assert.notEqual(row(table, 'us-east1')['AI TODAY'], '—');
    assert.equal(row(table, 'europe-west1')['AI TODAY'], '$0.00');
    // No relay configured: the column says so, and no lag is invented.
    assert.equal(row(table, 'us-east1').RELAY, 'off');
    assert.equal(row(table, 'us-east1').LAG, '—');
  });

  test('once traffic stops and the rates settle at 0, load rounds go on without status writes', async () => {
    await waitFor(async () => {
      const [us, eu] = [await regionStatus('us-east1'), await regionStatus('europe-west1')];
      return us?.messagesPerSecond?.in === 0 && us.messagesPerSecond.out === 0 && eu?.messagesPerSecond?.in === 0 ? true : undefined;
    }, { what: 'the rates back at 0', timeoutMs: 60_000, intervalMs: 200 });
    const monitor = cluster.controller.autoscaler!.monitor;
    const afterRounds = (n: number) => waitFor(async () => (monitor.stats.rounds >= n ? true : undefined), { what: `load round ${n}`, timeoutMs: 60_000, intervalMs: 50 });
    const start = monitor.stats.rounds;
    await afterRounds(start + 1);
    const writes = cluster.hub.requestCount({ writesOnly: true });
    await afterRounds(start + 4);
    assert.equal(cluster.hub.requestCount({ writesOnly: true }) - writes, 0, 'three load rounds (and the reconciles they enqueue) wrote nothing to the hub');
  });

  test('the relay turned on, then the Pub/Sub emulator killed with no traffic: relayState Degraded in both regions', { skip: skipUnlessPubsubEmulator('the relay in kubectl meridian status') }, async () => {
    emulator = await startPubsubEmulator();
    await patchRtc(cluster, NAME, { spec: { relay: { pubsub: { projectId: 'meridian-local', topic: `relay-${NAME}`, emulatorHost: emulator.host } } } });
    const regions = ['us-east1', 'europe-west1'] as const;
    /** The region's pod whose /loadz reports the relay (the rollout replaced the one without). */
    const relayLoad = async (region: (typeof regions)[number]) => {
      for (const pod of await gatewayPods(cluster, region, NAME)) {
        const body = await fetch(`http://127.0.0.1:${portOf(pod)}/loadz`).then((r) => r.json() as Promise<{ relay?: { state: string; peers: { region: string }[] } }>).catch(() => undefined);
        if (body?.relay) return body.relay;
      }
      return undefined;
    };
    // Heartbeats alone (nothing published since the first test): each region's pod hears the other.
    for (const region of regions) {
      const peer = region === 'us-east1' ? 'europe-west1' : 'us-east1';
      await waitFor(async () => ((await relayLoad(region))?.peers.some((p) => p.region === peer) ? true : undefined), { what: `${region} heard ${peer}`, timeoutMs: 100_000, intervalMs: 250 });
      await waitFor(async () => ((await regionStatus(region))?.relayState === 'Ok' ? true : undefined), { what: `${region} relayState Ok`, timeoutMs: 60_000, intervalMs: 200 });
    }
    await emulator.kill();
    for (const region of regions) {
      await waitFor(async () => ((await regionStatus(region))?.relayState === 'Degraded' ? true : undefined), { what: `${region} relayState Degraded`, timeoutMs: 60_000, intervalMs: 250 });
    }
    // What the pods say, which the status summarises.
    for (const region of regions) assert.equal((await relayLoad(region))?.state, 'degraded');
  });
});
