/**
 * The Redis benchmark in a tiny configuration: one redis-server, two gateway processes per
 * system (Meridian with its Redis engine, Socket.IO with @socket.io/redis-adapter, the raw ws relay), 2 rooms of
 * 10 subscribers split over both pods, 50 messages. Asserts that every message reached every
 * subscriber on both pods exactly once, in order, and that Redis commands and CPU were counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../bench/redis.ts';
import { skipUnless } from './helpers/services.ts';

const ROOMS = 2;
const PER_ROOM = 10;
const MESSAGES = 50;

interface Round {
  system: string;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  stray: number;
  outOfOrder: number;
  lossless: boolean;
  redisCommands: number;
  redisCommandsByName: Record<string, number>;
  redisCommandUsecByName: Record<string, number>;
  redisCpuUsPerMessage: number;
  latencyBySide?: { local: { count: number }; remote: { count: number } };
  problems: Record<string, number>;
}

test('redis bench relays every message across two pods for Meridian, Socket.IO and the raw ws relay', { skip: skipUnless('redis-server', 'the Redis benchmark') }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-redis-'));
  try {
    const args = [
      '--quiet', '--rounds', '1', '--rooms', String(ROOMS), '--subscribers-per-room', String(PER_ROOM), '--rate', '200',
      '--max-messages', String(MESSAGES), '--warmup-messages', '4', '--duration-ms', '60000', '--baseline-messages', '20', '--out', join(dir, 'redis.json'),
    ];
    const record = (await run(args)) as { rounds: Round[]; floors: { published: number; latency: { count: number } }[] };
    assert.equal(record.floors.length, 1, 'one floor per round');
    for (const floor of record.floors) assert.equal(floor.latency.count, floor.published, 'the bare ioredis floor received every message');
    assert.deepEqual(record.rounds.map((r) => r.system).sort(), ['meridian', 'rawws', 'socketio']);
    for (const round of record.rounds) {
      assert.equal(round.published, MESSAGES, `${round.system}: published`);
      assert.equal(round.expectedDeliveries, MESSAGES * PER_ROOM);
      assert.equal(round.delivered, MESSAGES * PER_ROOM, `${round.system}: delivered ${JSON.stringify(round.problems)}`);
      assert.equal(round.duplicates, 0);
      assert.equal(round.stray, 0);
      assert.equal(round.outOfOrder, 0, `${round.system}: one publisher per room, so order holds`);
      assert.ok(round.lossless);
      assert.ok(round.redisCommands >= MESSAGES, `${round.system}: at least one Redis command per message (${JSON.stringify(round.redisCommandsByName)})`);
      assert.ok(round.redisCpuUsPerMessage > 0, `${round.system}: Redis CPU per message was measured`);
      assert.ok((round.redisCommandUsecByName.publish ?? 0) > 0, `${round.system}: Redis time per command was measured`);
      // Each room has subscribers on both pods: half of every message's deliveries stay on the publisher's pod.
      assert.equal(round.latencyBySide?.local.count, (MESSAGES * PER_ROOM) / 2, `${round.system}: deliveries on the publisher's pod`);
      assert.equal(round.latencyBySide?.remote.count, (MESSAGES * PER_ROOM) / 2, `${round.system}: deliveries on the other pod`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('redis bench rejects a subscriber count that cannot be split over two pods', async () => {
  await assert.rejects(run(['--subscribers-per-room', '7']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--systems', 'rawws-batched']), { code: 'BENCH_BAD_ARGUMENT' });
});
