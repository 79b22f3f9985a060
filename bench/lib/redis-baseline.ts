/**
 * The floor under any Redis relay on this machine: a bare ioredis PUBLISH → SUBSCRIBE round
 * trip (one process, two connections) at the benchmark's rate, through the same redis-server.
 * A relay through gateway pods adds hops to this; it cannot be faster.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { nowMicros } from '../generator/delivery-run.ts';
import { LatencyHistogram, type LatencySummary } from './stats.ts';

export interface BaselineResult {
  published: number;
  latency: LatencySummary;
}

const CHANNEL = 'bench-baseline';
/** Time for the last message to arrive before counting. */
const DRAIN_MS = 200;

export async function measureRedisBaseline(url: string, rate: number, messages: number): Promise<BaselineResult> {
  const publisher = new Redis(url, { maxRetriesPerRequest: 1 });
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1 });
  const histogram = new LatencyHistogram();
  try {
    await subscriber.subscribe(CHANNEL);
    subscriber.on('message', (_channel: string, sentAt: string) => histogram.record(nowMicros() - Number(sentAt)));
    const intervalMs = 1000 / rate;
    for (let i = 0; i < messages; i++) {
      await publisher.publish(CHANNEL, String(nowMicros()));
      await sleep(intervalMs);
    }
    await sleep(DRAIN_MS);
    return { published: messages, latency: histogram.summary() };
  } finally {
    publisher.disconnect();
    subscriber.disconnect();
  }
}
