/**
 * History amplification against a real Redis: one connection sending 128 history commands for
 * a room of 300 × 60 KB messages (18 MB of history, ~2.3 GB if every command were served whole)
 * leaves Redis's memory and its client output buffers, and the gateway process's memory,
 * within a bound, and a bystander's round trip is served correctly meanwhile.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { signToken, spawnGateway, TestClient, testApiKey, type SpawnedGateway } from './helpers/gateway.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const skip = skipUnless('redis-server', 'history amplification against Redis');
const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

/** Largest client output buffer (omem) in CLIENT LIST. */
function maxOmem(clientList: string): number {
  return Math.max(0, ...[...clientList.matchAll(/omem=(\d+)/g)].map((m) => Number(m[1])));
}

describe('history amplification against Redis', { skip }, () => {
  let redis: RedisServer;
  let gw: SpawnedGateway;
  let probe: Redis;

  before(async () => {
    redis = await startRedis();
    probe = new Redis(redis.url);
    gw = await spawnGateway({ redisUrl: redis.url, logLevel: 'warn' });
    const chunk = 'v'.repeat(60 * 1024);
    for (let n = 1; n <= 300; n += 1) {
      const res = await fetch(`${gw.httpUrl}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testApiKey}` },
        body: JSON.stringify({ room: 'vault', data: { n, chunk } }),
      });
      assert.equal(res.status, 200);
    }
  });

  after(async () => {
    probe?.disconnect();
    await gw?.stop();
    await redis?.stop();
  });

  it('128 history commands of 300 × 60 KB from one connection: Redis, its output buffers and the gateway stay bounded; a bystander is served', async () => {
    const bystander = await TestClient.connected(gw.wsUrl, await signToken('bystander'));
    await bystander.request({ op: 'subscribe', room: 'calm' });
    const usedBefore = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]);
    const rssBefore = rssBytes(gw.process.pid!);

    let peakUsed = usedBefore;
    let peakOmem = 0;
    let peakRss = rssBefore;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakUsed = Math.max(peakUsed, Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]));
        peakOmem = Math.max(peakOmem, maxOmem(await probe.client('LIST') as string));
        peakRss = Math.max(peakRss, rssBytes(gw.process.pid!));
      }
    })();

    const attacker = await TestClient.connected(gw.wsUrl, await signToken('attacker'));
    for (let i = 0; i < 128; i += 1) attacker.send({ id: 1000 + i, op: 'history', room: 'vault', limit: 300, since: 0 });
    // Served meanwhile: the bystander's own publish comes back to it.
    const ack = await bystander.request({ op: 'publish', room: 'calm', data: 'still here' });
    assert.equal(ack.op, 'published');
    await bystander.waitFrame((f) => f.op === 'message' && f.data === 'still here');

    // Four reads are served (limits.historyReadsPerConnection); the rest are refused as
    // violations until the connection is closed with 4400.
    const { code } = await attacker.closed;
    sampling = false;
    await sampler;
    assert.equal(code, 4400);
    const served = attacker.frames.filter((f) => f.op === 'history');
    assert.ok(served.length <= 4, `at most 4 history replies, got ${served.length}`);
    for (const reply of served) {
      assert.equal(reply.more, true);
      assert.ok(Buffer.byteLength(JSON.stringify(reply)) <= 300 * 1024, 'one reply stays near limits.historyReplyBytes');
    }
    assert.ok(attacker.frames.filter((f) => f.code === 'RATE_LIMITED').length >= 19);

    const grew = (peakUsed - usedBefore) / MiB;
    assert.ok(grew < 32, `Redis used_memory grew by ${grew.toFixed(1)} MiB (bound 32 MiB; unbounded reads took it to gigabytes)`);
    assert.ok(peakOmem < 8 * MiB, `largest Redis client output buffer ${(peakOmem / MiB).toFixed(1)} MiB (bound 8 MiB)`);
    const rssGrew = (peakRss - rssBefore) / MiB;
    assert.ok(rssGrew < 200, `gateway RSS grew by ${rssGrew.toFixed(0)} MiB (bound 200 MiB)`);

    // And afterwards, a well-behaved reader pages through all 300 in order.
    const reader = await TestClient.connected(gw.wsUrl, await signToken('reader'));
    const offsets: number[] = [];
    let since = 0;
    for (;;) {
      const page = await reader.request({ op: 'history', room: 'vault', limit: 300, since });
      offsets.push(...page.messages.map((m: { offset: number }) => m.offset));
      if (!page.more) break;
      since = page.messages.at(-1).offset;
    }
    assert.deepEqual(offsets, Array.from({ length: 300 }, (_, i) => i + 1));
    await Promise.all([bystander.close(), reader.close()]);
  });
});
