/**
 * The fan-out benchmark in a tiny configuration: real server processes (Meridian, Socket.IO,
 * raw ws) and a real load generator, 20 subscribers and 50 messages each. Asserts that every
 * message reached every subscriber exactly once and that memory was sampled; no timing claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../bench/fanout.ts';

const SUBSCRIBERS = 20;
const MESSAGES = 50;

interface SizeRun {
  subscribers: number;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  stray: number;
  outOfOrder: number;
  lossless: boolean;
  problems: Record<string, number>;
}
interface Record_ {
  rounds: { system: string; memory: { connections: number; after: { heapUsed: number } }; sizes: SizeRun[] }[];
  summary: { ratios: Record<string, Record<string, number>> };
}

test('fan-out bench delivers every message to every subscriber on Meridian, Socket.IO and raw ws', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-fanout-'));
  try {
    const out = join(dir, 'fanout.json');
    const args = ['--quiet', '--rounds', '1', '--sizes', String(SUBSCRIBERS), '--idle', '30', '--max-messages', String(MESSAGES), '--warmup-messages', '5', '--duration-ms', '60000', '--out', out];
    const record = (await run(args)) as Record_;
    assert.deepEqual(record.rounds.map((r) => r.system).sort(), ['meridian', 'rawws', 'socketio']);
    for (const round of record.rounds) {
      assert.equal(round.memory.connections, 30, `${round.system}: idle connections opened`);
      assert.ok(round.memory.after.heapUsed > 0, `${round.system}: heap sampled`);
      const [size] = round.sizes;
      assert.equal(size.subscribers, SUBSCRIBERS);
      assert.equal(size.published, MESSAGES, `${round.system}: published`);
      assert.equal(size.expectedDeliveries, SUBSCRIBERS * MESSAGES);
      assert.equal(size.delivered, SUBSCRIBERS * MESSAGES, `${round.system}: delivered ${JSON.stringify(size.problems)}`);
      assert.equal(size.duplicates, 0);
      assert.equal(size.stray, 0);
      assert.equal(size.outOfOrder, 0, `${round.system}: one publisher, so every subscriber sees publish order`);
      assert.ok(size.lossless);
    }
    assert.ok(Number.isFinite(record.summary.ratios['meridian/socketio'][`deliveredPerSec@${SUBSCRIBERS}`]));
    const written = JSON.parse(await readFile(out, 'utf8')) as Record_;
    assert.equal(written.rounds.length, 3, 'the result file holds every round');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fan-out bench rejects an unknown option with BENCH_BAD_ARGUMENT', async () => {
  await assert.rejects(run(['--subscribers', '5']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--systems', 'nats']), { code: 'BENCH_BAD_ARGUMENT' });
});
