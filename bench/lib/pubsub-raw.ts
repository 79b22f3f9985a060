/**
 * The floor under the relay: the bare `@google-cloud/pubsub` client publishing to a topic and
 * receiving from a subscription of it, in this one process (one clock for both stamps), at a
 * fixed rate, with the same payload the WebSocket publishers send and the same publisher
 * batching the relay uses. `ordered`: one ordering key per room, as the relay publishes
 * (ordering key = room) on a subscription with message ordering on; otherwise no keys.
 *
 * A session keeps its topic and subscriptions across runs (warm-up, measured run, ladder steps);
 * each run counts only its own sequence numbers. Every message is counted: delivered,
 * duplicates, out of order per key, and the ones that never came.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PubSub, type Message, type Subscription, type Topic } from '@google-cloud/pubsub';
import { benchPayload, nowMicros } from '../generator/delivery-run.ts';
import { LatencyHistogram, type LatencySummary } from './stats.ts';

export interface RawSessionOptions {
  projectId: string;
  ordered: boolean;
  /** Ordering keys used in turn (the relay's rooms). */
  keys: number;
  batchMaxMs: number;
  batchMaxMessages: number;
  flowMaxMessages: number;
  /**
   * Also consume the topic through a second subscription whose messages are acked unread, as the
   * origin region's own subscription is in a relay run (the emulator applies no filter), so the
   * emulator carries the same delivery load for the floor as for the relay.
   */
  mirrorSubscription: boolean;
}

export interface RawRunRequest {
  rate: number;
  durationMs: number;
  payloadBytes: number;
  /** After publishing stops, wait this long without any delivery before calling the rest lost. */
  drainTimeoutMs: number;
  tickMs: number;
}

export interface RawRunResult {
  published: number;
  publishFailures: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  incompleteMessages: number;
  /** Deliveries of sequence numbers this run did not publish (a redelivered earlier message). */
  stray: number;
  elapsedMs: number;
  publishedPerSec: number;
  latency: LatencySummary;
  cpuPercent: number;
}

interface ActiveRun {
  seqBase: number;
  published: number;
  counts: Uint8Array;
  histogram: LatencyHistogram;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  lastSeqPerKey: Int32Array;
  lastProgressUs: number;
}

const SEQ_FIELD = '"bs":';
const TIME_FIELD = '"bt":';

function fieldValue(text: string, field: string): number {
  const at = text.indexOf(field);
  if (at < 0) return -1;
  return Number.parseInt(text.slice(at + field.length, at + field.length + 20), 10);
}

export class RawPubSubSession {
  private readonly options: RawSessionOptions;
  private readonly client: PubSub;
  private readonly topicName = `raw-bench-${randomUUID().slice(0, 8)}`;
  private topic: Topic | undefined;
  private readonly subscriptions: Subscription[] = [];
  private current: ActiveRun | undefined;
  private nextSeq = 0;
  /** Deliveries of sequence numbers no run is counting (a redelivered earlier message). */
  private stray = 0;

  constructor(options: RawSessionOptions) {
    this.options = options;
    this.client = new PubSub({ projectId: options.projectId });
  }

  async open(): Promise<void> {
    const { ordered, batchMaxMs, batchMaxMessages, flowMaxMessages, mirrorSubscription } = this.options;
    await this.client.createTopic(this.topicName);
    this.topic = this.client.topic(this.topicName, { messageOrdering: ordered, batching: { maxMilliseconds: batchMaxMs, maxMessages: batchMaxMessages } });
    const names = mirrorSubscription ? ['receiver', 'mirror'] : ['receiver'];
    for (const name of names) {
      const [subscription] = await this.topic.createSubscription(`${this.topicName}-${name}`, {
        enableMessageOrdering: ordered,
        flowControl: { maxMessages: flowMaxMessages, allowExcessMessages: false },
      });
      subscription.on('error', () => undefined);
      subscription.on('message', name === 'receiver' ? (m: Message) => this.receive(m) : (m: Message) => m.ack());
      this.subscriptions.push(subscription);
    }
  }

  private receive(message: Message): void {
    const now = nowMicros();
    message.ack();
    const run = this.current;
    const text = message.data.toString('latin1', 0, 64);
    const seq = fieldValue(text, SEQ_FIELD);
    const index = run ? seq - run.seqBase : -1;
    if (!run || index < 0 || index >= run.published) {
      this.stray++;
      return;
    }
    run.lastProgressUs = now;
    if (run.counts[index] > 0) {
      run.duplicates++;
      return;
    }
    run.counts[index] = 1;
    run.delivered++;
    run.histogram.record(now - fieldValue(text, TIME_FIELD));
    const key = index % this.options.keys;
    if (seq < run.lastSeqPerKey[key]) run.outOfOrder++;
    else run.lastSeqPerKey[key] = seq;
  }

  /** Publishes at `rate` for `durationMs`, then waits for every message (or `drainTimeoutMs` of silence). */
  async run(request: RawRunRequest): Promise<RawRunResult> {
    const topic = this.topic;
    if (!topic) throw new Error('raw session not open');
    const capacity = Math.ceil((request.rate * request.durationMs) / 1000) + 1;
    const run: ActiveRun = {
      seqBase: this.nextSeq,
      published: 0,
      counts: new Uint8Array(capacity),
      histogram: new LatencyHistogram(),
      delivered: 0,
      duplicates: 0,
      outOfOrder: 0,
      lastSeqPerKey: new Int32Array(this.options.keys).fill(-1),
      lastProgressUs: nowMicros(),
    };
    this.nextSeq += capacity;
    this.current = run;
    let publishFailures = 0;
    const strayBefore = this.stray;
    const cpuBefore = process.cpuUsage();
    const started = nowMicros();
    const stopAt = started + request.durationMs * 1000;
    while (nowMicros() < stopAt && run.published < capacity) {
      const due = Math.min(capacity, Math.floor(((nowMicros() - started) / 1e6) * request.rate));
      while (run.published < due) {
        const seq = run.seqBase + run.published;
        const key = `room-${run.published % this.options.keys}`;
        run.published++;
        const data = Buffer.from(benchPayload(seq, request.payloadBytes));
        topic.publishMessage(this.options.ordered ? { data, orderingKey: key } : { data }).catch(() => {
          publishFailures++;
          if (this.options.ordered) topic.resumePublishing(key);
        });
      }
      run.lastProgressUs = nowMicros();
      await sleep(request.tickMs);
    }
    while (run.delivered < run.published && nowMicros() - run.lastProgressUs < request.drainTimeoutMs * 1000) await sleep(request.tickMs);
    const cpu = process.cpuUsage(cpuBefore);
    const elapsedUs = nowMicros() - started;
    this.current = undefined;
    return {
      published: run.published,
      publishFailures,
      expectedDeliveries: run.published,
      delivered: run.delivered,
      duplicates: run.duplicates,
      outOfOrder: run.outOfOrder,
      incompleteMessages: run.published - run.delivered,
      stray: this.stray - strayBefore,
      elapsedMs: Math.round(elapsedUs / 1000),
      publishedPerSec: Math.round((run.published / elapsedUs) * 1e6),
      latency: run.histogram.summary(),
      cpuPercent: Math.round(((cpu.user + cpu.system) / elapsedUs) * 100),
    };
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) await subscription.close().catch(() => undefined);
    await this.topic?.flush().catch(() => undefined);
    for (const subscription of this.subscriptions) await subscription.delete().catch(() => undefined);
    await this.topic?.delete().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}

