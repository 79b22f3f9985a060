/** The latency histogram the benchmarks report from: percentiles within 1 %, exact max. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram, median } from '../bench/lib/stats.ts';
import { parseCommandStats, commandDelta } from '../bench/lib/redis-stats.ts';
import { parseOptions, type OptionSpec } from '../bench/lib/args.ts';

test('latency histogram percentiles stay within 1 % of the exact values', () => {
  const histogram = new LatencyHistogram();
  const values: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const us = Math.floor((i * 7919) % 3_000_000);
    values.push(us);
    histogram.record(us);
  }
  values.sort((a, b) => a - b);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = values[Math.ceil((p / 100) * values.length) - 1];
    const got = histogram.percentile(p);
    assert.ok(Math.abs(got - exact) <= exact * 0.01 + 1, `p${p}: ${got} vs ${exact}`);
  }
  assert.equal(histogram.summary().maxMs, values.at(-1)! / 1000);
  assert.equal(histogram.count, values.length);
});

test('an empty histogram reports zeros, and median ignores non-finite values', () => {
  assert.deepEqual(new LatencyHistogram().summary(), { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 });
  assert.equal(median([3, Number.NaN, 1, 2]), 2);
  assert.ok(Number.isNaN(median([])));
});

test('Redis command counts leave out INFO and count only what grew', () => {
  const before = parseCommandStats('# Commandstats\r\ncmdstat_info:calls=3,usec=1\r\ncmdstat_publish:calls=10,usec=5\r\n');
  const after = parseCommandStats('cmdstat_info:calls=5,usec=1\r\ncmdstat_publish:calls=15,usec=5\r\ncmdstat_evalsha:calls=5,usec=9\r\n');
  assert.deepEqual(commandDelta(before, after), { total: 10, byCommand: { publish: 5, evalsha: 5 } });
});

test('a bench option given as --name=value keeps every = of its value', () => {
  const specs: Record<string, OptionSpec> = { 'gateway-env': { kind: 'list', default: [], doc: '' }, rate: { kind: 'int', default: 1, doc: '' } };
  const values = parseOptions(['--gateway-env=MERIDIAN_A=1,MERIDIAN_B=x=y', '--rate=7'], specs);
  assert.deepEqual(values['gateway-env'], ['MERIDIAN_A=1', 'MERIDIAN_B=x=y']);
  assert.equal(values.rate, 7);
});
