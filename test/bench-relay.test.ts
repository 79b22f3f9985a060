/**
 * The relay benchmark in a tiny configuration: one Pub/Sub emulator, two regions of one
 * redis-server and one gateway each, 2 rooms of one subscriber in region b, 40 messages at a
 * low rate, with both outbox modes, beside the raw Pub/Sub client with and without ordering,
 * and a two-step ladder.
 * Asserts that the record is complete and that every system delivered every message once —
 * Meridian's in order across the regions. No timing claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../bench/relay.ts';
import { skipUnless, skipUnlessPubsubEmulator } from './helpers/services.ts';

const RATE = 20;
const ROOMS = 2;

interface Measured {
  rate: number;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  lossless: boolean;
  latency: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
}

interface Round extends Measured {
  system: string;
  relayCounters?: Record<string, Record<string, number>>;
  ladder?: Measured[];
}

interface RelayRecord {
  benchmark: string;
  processes: string;
  rounds: Round[];
  summary: { rows: { system: string; p99Ms: number; lossless: boolean }[]; ratios: Record<string, number> };
}

const skip = skipUnless('redis-server', 'the relay benchmark') || skipUnlessPubsubEmulator('the relay benchmark');

test('relay bench carries every message from region a to region b, beside the raw Pub/Sub client', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-relay-'));
  const out = join(dir, 'relay.json');
  try {
    const args = [
      '--quiet', '--rounds', '1', '--rate', String(RATE), '--rooms', String(ROOMS), '--pods-per-region', '1', '--subscribers-per-room', '1',
      '--warmup-ms', '500', '--duration-ms', '2000', '--ladder', `${RATE},${RATE * 2}`, '--ladder-step-ms', '1000', '--ladder-warmup-ms', '300', '--ladder-p99-ms', '60000', '--out', out,
      '--systems', 'meridian,meridian-pipelined,raw-ordered,raw-unordered', '--ladder-systems', 'meridian,meridian-pipelined,raw-ordered',
    ];
    const record = (await run(args)) as RelayRecord;
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')).rounds.length, record.rounds.length, 'the record was written');
    assert.equal(record.benchmark, 'relay');
    assert.match(record.processes, /1 gateway process/);
    assert.deepEqual(record.rounds.map((r) => r.system).sort(), ['meridian', 'meridian-pipelined', 'raw-ordered', 'raw-unordered']);
    for (const round of record.rounds) {
      const runs: Measured[] = [round, ...(round.ladder ?? [])];
      for (const m of runs) {
        const what = `${round.system} at ${m.rate}/s`;
        assert.ok(m.published > 0, `${what}: published ${m.published}`);
        assert.equal(m.expectedDeliveries, m.published, `${what}: one subscriber per room, so one delivery per message`);
        assert.equal(m.delivered, m.expectedDeliveries, `${what}: delivered`);
        assert.equal(m.duplicates, 0, `${what}: duplicates`);
        assert.equal(m.latency.count, m.delivered, `${what}: a latency for every delivery`);
        assert.ok(m.lossless, what);
        if (round.system !== 'raw-unordered') assert.equal(m.outOfOrder, 0, `${what}: in order per room`);
      }
      if (round.system !== 'raw-unordered') assert.equal(round.ladder?.length, 2, `${round.system} climbed both ladder steps`);
    }
    for (const system of ['meridian', 'meridian-pipelined']) {
      const meridian = record.rounds.find((r) => r.system === system)!;
      const b = meridian.relayCounters!.b;
      assert.equal(b['meridian_relay_applied_total{outcome="stored"}'], meridian.published, `${system}: region b appended each relayed message once`);
      assert.equal(b.meridian_relay_unrecoverable_gaps_total, 0, `${system}: no unrecoverable gap`);
      assert.ok(meridian.relayCounters!.a.meridian_relay_sent_total >= meridian.published, `${system}: region a sent every message to the bus (and perhaps a digest)`);
    }
    for (const row of record.summary.rows) assert.ok(row.lossless, `${row.system}: lossless over the run`);
    for (const pair of ['meridian/raw-ordered', 'meridian-pipelined/raw-ordered', 'meridian-pipelined/meridian']) assert.ok(Number.isFinite(record.summary.ratios[`${pair} p99`]), `the ${pair} p99 ratio is computed`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('relay bench rejects subscribers that cannot be split over the pods, and unknown systems', async () => {
  await assert.rejects(run(['--pods-per-region', '2', '--subscribers-per-room', '3']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--systems', 'socketio']), { code: 'BENCH_BAD_ARGUMENT' });
  await assert.rejects(run(['--gateway-env', 'FOO=1']), { code: 'BENCH_BAD_ARGUMENT' });
});
