/**
 * `meridian start` as a person runs it: the printed block appears, the printed kubectl command
 * shows the RealtimeCluster, both regions' demo endpoints accept the printed tokens and a chat
 * crosses regions through the relay; Ctrl-C (SIGINT) ends every process it started and frees
 * every port; a second start with the same --dir finds the same objects.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TestClient } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';
import { alive, launchPlatform, type LaunchedPlatform } from './helpers/platform.ts';
import { portOpen, skipUnless, skipUnlessPubsubEmulator } from './helpers/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'meridian-start-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubectl(args: string[]): string {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 0, `${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

async function stopAndCheck(platform: LaunchedPlatform): Promise<void> {
  const pids = platform.descendants();
  const ports = platform.ports();
  assert.ok(pids.length >= 3, `the launcher runs its children (found ${pids.length})`);
  assert.equal(await platform.interrupt(), 0, 'Ctrl-C ends meridian start with 0');
  const left = pids.filter(alive);
  assert.deepEqual(left, [], `every process meridian start started is gone (still alive: ${left.join(', ')})`);
  for (const port of ports) assert.equal(await portOpen(port), false, `port ${port} is free after Ctrl-C`);
}

test('npm start: the printed URLs and commands work, a chat crosses regions, Ctrl-C leaves nothing behind, --dir keeps the objects', { skip: skipUnless('kubectl', 'meridian start (the printed kubectl commands)'), timeout: 300_000 }, async (t) => {
  const platform = await launchPlatform(dir);
  let uid: string;
  try {
    t.diagnostic(`ready in ${platform.readySeconds} s`);
    assert.match(platform.dashboardUrl, /^http:\/\/127\.0\.0\.1:\d+\/dashboard$/);
    assert.equal((await fetch(platform.dashboardUrl)).status, 200, 'the dashboard answers');
    assert.deepEqual(platform.regions.map((r) => r.name), ['us-east1', 'europe-west1']);

    const getRtc = platform.kubectl.find((args) => args.join(' ').endsWith('get rtc'))!;
    assert.ok(getRtc, `a printed 'kubectl … get rtc' command:\n${platform.output()}`);
    const table = kubectl(getRtc);
    assert.match(table, /^classrooms\s+Ready\s+2\/2/m, `kubectl get rtc shows the cluster Ready:\n${table}`);
    const getPods = platform.kubectl.find((args) => args.join(' ').endsWith('get pods'))!;
    assert.match(kubectl(getPods), /classrooms-gateway-\S+\s+1\/1\s+Running/, 'the region kubectl command lists Running gateway pods');
    uid = JSON.parse(kubectl([...getRtc, '-o', 'json'])).items[0].metadata.uid;

    // The demo page, and the gateway behind it with the printed token.
    const [a, b] = platform.regions;
    const page = await fetch(a.url.split('#')[0]);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Meridian demo chat/);
    const ana = await TestClient.connected(`ws://127.0.0.1:${a.port}/v1/ws`, a.token);
    const ben = await TestClient.connected(`ws://127.0.0.1:${b.port}/v1/ws`, b.token);
    try {
      assert.equal(ana.frames.find((f) => f.op === 'connected')!.region, 'us-east1');
      assert.equal(ben.frames.find((f) => f.op === 'connected')!.region, 'europe-west1');
      await ana.request({ op: 'subscribe', room: 'lobby' });
      await ben.request({ op: 'subscribe', room: 'lobby' });
      const relaySkip = skipUnlessPubsubEmulator('a chat crossing regions through the relay');
      if (relaySkip) {
        t.diagnostic(relaySkip);
      } else {
        assert.doesNotMatch(platform.output(), /no cross-region relay/);
        const published = await ana.request({ op: 'publish', room: 'lobby', data: { text: 'hello from us-east1' } });
        assert.equal(published.op, 'published', JSON.stringify(published));
        const arrived = await ben.waitFrame((f) => f.op === 'message' && f.data?.text === 'hello from us-east1', { timeoutMs: 60_000, what: 'the message in europe-west1' });
        assert.equal(arrived.region, 'us-east1', 'the message says where it was published');
        assert.equal(arrived.from.user, 'ana');
      }
    } finally {
      await ana.close();
      await ben.close();
    }
  } finally {
    await stopAndCheck(platform);
  }

  // Same directory: the same objects (the RealtimeCluster keeps its uid), Ready again.
  const again = await launchPlatform(dir);
  try {
    const getRtc = again.kubectl.find((args) => args.join(' ').endsWith('get rtc'))!;
    const cluster = JSON.parse(kubectl([...getRtc, '-o', 'json'])).items[0];
    assert.equal(cluster.metadata.uid, uid!, 'the RealtimeCluster was kept, not created again');
    await waitFor(async () => /^classrooms\s+Ready/m.test(kubectl(getRtc)), { timeoutMs: 60_000, what: 'the kept cluster Ready again' });
  } finally {
    await stopAndCheck(again);
  }
});
