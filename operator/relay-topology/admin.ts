/**
 * The seam between the topology logic and Pub/Sub's admin API: the few calls the operator
 * makes, in plain shapes. `connectPubSub` implements it with @google-cloud/pubsub; tests wrap
 * it to count writes. Every call is one attempt bounded by a timeout (the client's own retries
 * would hide an outage for minutes): the work queue retries the reconcile with backoff.
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { RelaySubscriptionSettings } from '../../lib/relay-topology.ts';

export interface TopicInfo {
  labels: Record<string, string>;
}

export interface SubscriptionInfo {
  /** Short topic name; `_deleted-topic_` once the topic was deleted under the subscription. */
  topic: string;
  labels: Record<string, string>;
  enableMessageOrdering: boolean;
  filter: string;
  ackDeadlineSeconds: number;
  messageRetentionSeconds: number;
  /** Seconds of inactivity before Pub/Sub deletes the subscription; undefined: never. */
  expirationTtlSeconds: number | undefined;
}

/** The settings Pub/Sub lets an existing subscription change. */
export type MutableSubscriptionSettings = Partial<Pick<RelaySubscriptionSettings, 'ackDeadlineSeconds' | 'messageRetentionDuration' | 'expirationPolicy'>>;

/** Admin calls in one project; names are short (`relay`, not `projects/p/topics/relay`). */
export interface PubSubAdmin {
  readonly projectId: string;
  getTopic(topic: string): Promise<TopicInfo | undefined>;
  createTopic(topic: string, labels: Record<string, string>): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  /** Short names of the subscriptions attached to the topic. */
  listTopicSubscriptions(topic: string): Promise<string[]>;
  getSubscription(name: string): Promise<SubscriptionInfo | undefined>;
  createSubscription(name: string, topic: string, settings: RelaySubscriptionSettings, labels: Record<string, string>): Promise<void>;
  updateSubscription(name: string, settings: MutableSubscriptionSettings): Promise<void>;
  deleteSubscription(name: string): Promise<void>;
  close(): Promise<void>;
}

/** How to reach Pub/Sub for one RealtimeCluster. */
export interface PubSubConnection {
  projectId: string;
  /** host:port of an emulator: no authentication. */
  emulatorHost?: string;
  /** A service-account key (parsed JSON); absent: the operator's ambient credentials. */
  credentials?: Record<string, unknown>;
}

export type ConnectPubSub = (connection: PubSubConnection, callTimeoutMs: number) => PubSubAdmin;

const grpcNotFound = 5;
const grpcAlreadyExists = 6;

export function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

function shortName(name: string | null | undefined): string {
  return (name ?? '').split('/').at(-1) ?? '';
}

function seconds(duration: { seconds?: unknown } | null | undefined): number | undefined {
  if (!duration || duration.seconds === undefined || duration.seconds === null) return undefined;
  return Number(duration.seconds);
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (grpcCode(error) === grpcNotFound) return undefined;
    throw error;
  }
}

async function ignoring(code: number, write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (grpcCode(error) !== code) throw error;
  }
}

/**
 * The admin seam over @google-cloud/pubsub. The SDK (and gRPC under it: ~20 MiB of heap and
 * ~55 MiB of resident memory once loaded) is imported by the first call, so an operator whose
 * clusters name no spec.relay.pubsub never loads it.
 */
export const connectPubSub: ConnectPubSub = (connection, callTimeoutMs) => {
  let loaded: Promise<PubSub> | undefined;
  const pubsub = () =>
    (loaded ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSub({
          projectId: connection.projectId,
          ...(connection.emulatorHost ? { apiEndpoint: connection.emulatorHost, emulatorMode: true } : {}),
          ...(connection.credentials ? { credentials: connection.credentials } : {}),
        }),
    ));
  // One attempt per call; `retry: null` turns the client's retries off.
  const gaxOpts = { timeout: callTimeoutMs, retry: null } as const;
  return {
    projectId: connection.projectId,
    async getTopic(topic) {
      const found = await orUndefined((await pubsub()).topic(topic).getMetadata(gaxOpts));
      return found && { labels: { ...(found[0].labels ?? {}) } };
    },
    async createTopic(topic, labels) {
      // Already there (a concurrent creator): the next pass compares it like any other.
      await ignoring(grpcAlreadyExists, (await pubsub()).createTopic({ name: topic, labels }, gaxOpts));
    },
    async deleteTopic(topic) {
      await ignoring(grpcNotFound, (await pubsub()).topic(topic).delete(gaxOpts));
    },
    async listTopicSubscriptions(topic) {
      const found = await orUndefined((await pubsub()).topic(topic).getSubscriptions({ gaxOpts }));
      return (found?.[0] ?? []).map((subscription) => shortName(subscription.name));
    },
    async getSubscription(name) {
      const found = await orUndefined((await pubsub()).subscription(name).getMetadata(gaxOpts));
      if (!found) return undefined;
      const metadata = found[0];
      return {
        topic: shortName(metadata.topic),
        labels: { ...(metadata.labels ?? {}) },
        enableMessageOrdering: metadata.enableMessageOrdering === true,
        filter: metadata.filter ?? '',
        ackDeadlineSeconds: metadata.ackDeadlineSeconds ?? 0,
        messageRetentionSeconds: seconds(metadata.messageRetentionDuration) ?? 0,
        expirationTtlSeconds: metadata.expirationPolicy ? seconds(metadata.expirationPolicy.ttl) : undefined,
      };
    },
    async createSubscription(name, topic, settings, labels) {
      await ignoring(grpcAlreadyExists, (await pubsub()).topic(topic).createSubscription(name, { ...settings, labels, gaxOpts }));
    },
    async updateSubscription(name, settings) {
      await (await pubsub()).subscription(name).setMetadata(settings, gaxOpts);
    },
    async deleteSubscription(name) {
      await ignoring(grpcNotFound, (await pubsub()).subscription(name).delete(gaxOpts));
    },
    // Never loaded, nothing to close.
    close: async () => (loaded ? (await loaded).close() : undefined),
  };
};
