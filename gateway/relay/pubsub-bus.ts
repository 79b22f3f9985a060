/**
 * The relay bus on Google Cloud Pub/Sub: the cluster's topic, and the region's subscription
 * `<topic>-<region>` shared by every pod of the region (message ordering on, a filter on
 * `origin` as an optimisation only; lib/relay-topology.ts, shared with the operator).
 *
 * - Publishing: ordering key = room; batching waits at most `batchMaxMs` (the client's default
 *   is 10 ms, which would be most of the emulator's ~25 ms latency) or `batchMaxMessages`.
 *   The client's own retries are off (they retry for up to 10 minutes, which would hide an
 *   outage from the outbox): one attempt, bounded by `publishTimeoutMs`, and the outbox
 *   retries with backoff. After a failed publish with an ordering key, the client refuses
 *   every later publish with that key (those already queued in the client too) until
 *   `resumePublishing(key)`; the outbox calls `resume(key)` when it retries the key, once none of
 *   the key's publishes is in flight, so a later envelope never overtakes a refused one.
 * - Receiving: flow control holds at most `flowMaxMessages` unacked messages or `flowMaxBytes`
 *   bytes per pod; the stream is reopened after an error (a deleted subscription, an emulator
 *   restart) every `reopenMs` until it works. Acks keep the client's batching (100 ms): the bus
 *   delivers a key's next messages without waiting for acks, so a batched ack delays no
 *   delivery; it only holds a flow-control slot that much longer.
 * - Topology: with `create`, a missing topic or subscription is created (local runs, tests);
 *   without it, a missing one is logged as a readable error and the bus stays degraded,
 *   retrying, instead of ending the process.
 */
import { PubSub, type Message, type Subscription, type Topic } from '@google-cloud/pubsub';
import type { Logger } from 'pino';
import { relaySubscriptionSettings, subscriptionName } from '../../lib/relay-topology.ts';
import { decodeEnvelope, encodeEnvelope, isMalformed, type RelayEnvelope } from './envelope.ts';
import type { BusDelivery, BusHealth, RelayBus } from './types.ts';

export interface PubSubBusOptions {
  projectId: string;
  topic: string;
  region: string;
  /** Create the topic and the region's subscription when missing. */
  create: boolean;
  batchMaxMs: number;
  batchMaxMessages: number;
  publishTimeoutMs: number;
  flowMaxMessages: number;
  flowMaxBytes: number;
  /** Ack deadline of a subscription this bus creates. */
  ackDeadlineSec: number;
  reopenMs: number;
  logger: Logger;
  /** Called for every envelope that could not be decoded (counted by the relay). */
  onMalformed?: (reason: string) => void;
}

const grpcNotFound = 5;
const grpcAlreadyExists = 6;

export { subscriptionName };

export class PubSubBus implements RelayBus {
  private readonly options: PubSubBusOptions;
  private readonly client: PubSub;
  private readonly topic: Topic;
  private readonly subscriptionName: string;
  private subscription: Subscription | undefined;
  private receive: ((delivery: BusDelivery) => void) | undefined;
  private publishing = true;
  private lastError: string | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private ensuring: Promise<void> | undefined;
  private closed = false;

  constructor(options: PubSubBusOptions) {
    this.options = options;
    this.client = new PubSub({ projectId: options.projectId });
    this.subscriptionName = subscriptionName(options.topic, options.region);
    this.topic = this.client.topic(options.topic, {
      messageOrdering: true,
      batching: { maxMilliseconds: options.batchMaxMs, maxMessages: options.batchMaxMessages },
      gaxOpts: { timeout: options.publishTimeoutMs, retry: null },
    });
  }

  async start(receive: (delivery: BusDelivery) => void): Promise<void> {
    this.receive = receive;
    await this.open();
  }

  async publish(envelope: RelayEnvelope, orderingKey: string | undefined): Promise<void> {
    if (this.closed) throw new Error('pubsub bus is closed');
    const { data, attributes } = encodeEnvelope(envelope);
    try {
      await this.topic.publishMessage({ data, attributes, orderingKey });
      if (!this.publishing) this.options.logger.info({ relay: 'pubsub', topic: this.options.topic }, 'publishing to the relay topic works again');
      this.publishing = true;
    } catch (error) {
      this.failed('publish', error);
      this.publishing = false;
      // The emulator forgets its topics when restarted; with `create` they come back.
      if (codeOf(error) === grpcNotFound && this.options.create) void this.ensureTopology().catch(() => undefined);
      throw error;
    }
  }

  /** The client refuses a key after a failed publish until this is called; the outbox calls it before a retry. */
  resume(orderingKey: string): void {
    if (!this.closed) this.topic.resumePublishing(orderingKey);
  }

  health(): BusHealth {
    return { publishing: this.publishing, receiving: this.subscription !== undefined, lastError: this.lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close().catch(() => undefined);
    await this.topic.flush().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }

  /** Ensures (or checks) the topology, then opens the stream; on failure, tries again later. */
  private async open(): Promise<void> {
    if (this.closed || this.subscription) return;
    try {
      await this.ensureTopology();
      const subscription = this.client.subscription(this.subscriptionName, {
        flowControl: { maxMessages: this.options.flowMaxMessages, maxBytes: this.options.flowMaxBytes, allowExcessMessages: false },
      });
      subscription.on('message', (message: Message) => this.onMessage(message));
      subscription.on('error', (error: unknown) => this.onStreamError(subscription, error));
      this.subscription = subscription;
      this.lastError = undefined;
      this.options.logger.info({ relay: 'pubsub', subscription: this.subscriptionName }, 'relay subscription open');
    } catch (error) {
      this.failed('open', error);
      this.scheduleReopen();
    }
  }

  private scheduleReopen(): void {
    if (this.closed || this.reopenTimer) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.open();
    }, this.options.reopenMs);
    this.reopenTimer.unref();
  }

  private onStreamError(subscription: Subscription, error: unknown): void {
    if (this.subscription !== subscription) return;
    this.subscription = undefined;
    this.failed('receive', error);
    subscription.removeAllListeners('message');
    // Keep an error listener: a late error from a closing stream must not end the process.
    subscription.close().catch(() => undefined);
    this.scheduleReopen();
  }

  private onMessage(message: Message): void {
    const envelope = decodeEnvelope(message.data);
    if (isMalformed(envelope)) {
      // Acked: it would come back forever. Logged without its body.
      this.options.logger.warn({ relay: 'pubsub', reason: envelope.malformed, bytes: message.length }, 'skipped a malformed relay message');
      this.options.onMalformed?.(envelope.malformed);
      message.ack();
      return;
    }
    this.receive?.({ envelope, bytes: message.length, ack: () => message.ack(), nack: () => message.nack() });
  }

  /** One check at a time: concurrent failures share it. */
  private ensureTopology(): Promise<void> {
    this.ensuring ??= this.checkOrCreate().finally(() => (this.ensuring = undefined));
    return this.ensuring;
  }

  private async checkOrCreate(): Promise<void> {
    const { topic, region, create, ackDeadlineSec, projectId } = this.options;
    const [topicExists] = await this.topic.exists();
    if (!topicExists) {
      if (!create) throw new TopologyError(`topic projects/${projectId}/topics/${topic} does not exist: create it (the operator does) or set relay.pubsub.create=true (MERIDIAN_PUBSUB_CREATE=true) for local runs`);
      await this.topic.create().catch(ignoreAlreadyExists);
      this.options.logger.info({ relay: 'pubsub', topic }, 'created the relay topic');
    }
    const subscription = this.client.subscription(this.subscriptionName);
    const [subscriptionExists] = await subscription.exists();
    if (subscriptionExists) return;
    if (!create) throw new TopologyError(`subscription projects/${projectId}/subscriptions/${this.subscriptionName} does not exist: create it (the operator does) or set relay.pubsub.create=true for local runs`);
    // The operator's settings (lib/relay-topology.ts): its filter is an optimisation only.
    await this.topic.createSubscription(this.subscriptionName, relaySubscriptionSettings(region, ackDeadlineSec)).catch(ignoreAlreadyExists);
    this.options.logger.info({ relay: 'pubsub', subscription: this.subscriptionName }, 'created the region subscription');
  }

  /** Logs a new problem once at error level; the same one again only at debug. */
  private failed(what: string, error: unknown): void {
    const text = error instanceof TopologyError ? error.message : `${what} failed: ${(error as Error)?.message ?? String(error)}`;
    const repeated = text === this.lastError;
    this.lastError = text;
    const fields = { relay: 'pubsub', topic: this.options.topic, error: text };
    if (repeated) this.options.logger.debug(fields, 'relay bus still failing');
    else this.options.logger.error(fields, 'relay bus failing; the relay is degraded');
  }
}

class TopologyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopologyError';
  }
}

function codeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

function ignoreAlreadyExists(error: unknown): void {
  if (codeOf(error) !== grpcAlreadyExists) throw error;
}
