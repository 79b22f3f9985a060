/**
 * Bringing Pub/Sub to the desired topology, and taking it away. Read before write: every object
 * is read and compared first, so a pass over a topology in place makes no write.
 *
 * - Missing: created, with this cluster's owner label.
 * - Different in a setting Pub/Sub can change (ack deadline, retention, expiration): updated.
 * - Different in a setting it cannot (topic, ordering, filter), or owned by another cluster:
 *   reported, never recreated or deleted here — a subscription holds messages, and deleting it
 *   loses them. An operator who accepts that deletes it; the next pass creates it right.
 * - A subscription of this cluster's topic for a region that left the spec: deleted, if it
 *   carries this cluster's owner label.
 */
import type { MutableSubscriptionSettings, PubSubAdmin, SubscriptionInfo } from './admin.ts';
import { OWNER_LABEL, REGION_LABEL, type DesiredSubscription, type DesiredTopology } from './plan.ts';

export const TopologyProblemReason = {
  TopicOwnedByOtherCluster: 'TopicOwnedByOtherCluster',
  SubscriptionOwnedByOtherCluster: 'SubscriptionOwnedByOtherCluster',
  SubscriptionMismatch: 'SubscriptionMismatch',
} as const;

/** Something the operator will not fix by itself: a person must look. */
export interface TopologyProblem {
  reason: string;
  message: string;
}

export interface SyncResult {
  /** What was written, for the Event ("created subscription relay-us-east1"). */
  writes: string[];
  /** Regions whose subscription is in place as desired. */
  inPlace: string[];
  problems: TopologyProblem[];
}

function mutableDifferences(live: SubscriptionInfo, desired: DesiredSubscription): MutableSubscriptionSettings {
  const want = desired.settings;
  const changes: MutableSubscriptionSettings = {};
  if (live.ackDeadlineSeconds !== want.ackDeadlineSeconds) changes.ackDeadlineSeconds = want.ackDeadlineSeconds;
  if (live.messageRetentionSeconds !== want.messageRetentionDuration.seconds) changes.messageRetentionDuration = want.messageRetentionDuration;
  // An empty policy (no ttl) means "never expires".
  if (live.expirationTtlSeconds !== undefined) changes.expirationPolicy = want.expirationPolicy;
  return changes;
}

function immutableDifferences(live: SubscriptionInfo, desired: DesiredSubscription, topic: string): string[] {
  const differences: string[] = [];
  if (live.topic !== topic) differences.push(`it is attached to topic "${live.topic}", not "${topic}"`);
  if (!live.enableMessageOrdering) differences.push('message ordering is off');
  if (live.filter !== desired.settings.filter) differences.push(`its filter is ${JSON.stringify(live.filter)}, not ${JSON.stringify(desired.settings.filter)}`);
  return differences;
}

function ownedByOther(labels: Record<string, string>, owner: string): string | undefined {
  const labelled = labels[OWNER_LABEL];
  return labelled !== undefined && labelled !== owner ? labelled : undefined;
}

async function syncSubscription(admin: PubSubAdmin, desired: DesiredTopology, subscription: DesiredSubscription, result: SyncResult): Promise<void> {
  const live = await admin.getSubscription(subscription.name);
  if (!live) {
    await admin.createSubscription(subscription.name, desired.topic, subscription.settings, subscription.labels);
    result.writes.push(`created subscription ${subscription.name}`);
    result.inPlace.push(subscription.region);
    return;
  }
  const other = ownedByOther(live.labels, desired.owner);
  if (other) {
    result.problems.push({ reason: TopologyProblemReason.SubscriptionOwnedByOtherCluster, message: `subscription ${subscription.name} belongs to cluster ${other}: not changed` });
    return;
  }
  const immutable = immutableDifferences(live, subscription, desired.topic);
  if (immutable.length > 0) {
    result.problems.push({
      reason: TopologyProblemReason.SubscriptionMismatch,
      message: `subscription ${subscription.name}: ${immutable.join('; ')}; Pub/Sub cannot change this in place, and recreating it drops the messages it holds: delete it and the operator creates it anew`,
    });
    return;
  }
  const changes = mutableDifferences(live, subscription);
  if (Object.keys(changes).length > 0) {
    await admin.updateSubscription(subscription.name, changes);
    result.writes.push(`updated subscription ${subscription.name} (${Object.keys(changes).join(', ')})`);
  }
  result.inPlace.push(subscription.region);
}

/**
 * Brings Pub/Sub to `desired`, filling `result` as it goes (so that writes made before an error
 * are still known). Throws on a Pub/Sub error: nothing is deleted because of one.
 */
export async function syncTopology(admin: PubSubAdmin, desired: DesiredTopology, result: SyncResult = { writes: [], inPlace: [], problems: [] }): Promise<SyncResult> {
  const topic = await admin.getTopic(desired.topic);
  if (!topic) {
    await admin.createTopic(desired.topic, desired.topicLabels);
    result.writes.push(`created topic ${desired.topic}`);
  } else {
    const other = ownedByOther(topic.labels, desired.owner);
    if (other) {
      result.problems.push({ reason: TopologyProblemReason.TopicOwnedByOtherCluster, message: `topic ${desired.topic} belongs to cluster ${other}: set spec.relay.pubsub.topic to a topic of this cluster` });
      return result;
    }
  }
  const attached = topic ? await admin.listTopicSubscriptions(desired.topic) : [];
  for (const subscription of desired.subscriptions) await syncSubscription(admin, desired, subscription, result);

  const wanted = new Set(desired.subscriptions.map((s) => s.name));
  for (const name of attached.filter((n) => !wanted.has(n))) {
    const live = await admin.getSubscription(name);
    // Only ours, and only a region's: another consumer of the topic (a debugging pull) is left alone.
    if (!live || live.labels[OWNER_LABEL] !== desired.owner || !live.labels[REGION_LABEL]) continue;
    await admin.deleteSubscription(name);
    result.writes.push(`deleted subscription ${name} (region ${live.labels[REGION_LABEL]} left the spec)`);
  }
  return result;
}

/**
 * Deletes what this cluster owns: its subscriptions of the topic (and of the spec's names, in
 * case the topic went first), then the topic. Returns what was deleted; throws on an error.
 */
export async function removeTopology(admin: PubSubAdmin, desired: DesiredTopology): Promise<string[]> {
  const deleted: string[] = [];
  const topic = await admin.getTopic(desired.topic);
  const attached = topic ? await admin.listTopicSubscriptions(desired.topic) : [];
  const names = new Set([...attached, ...desired.subscriptions.map((s) => s.name)]);
  for (const name of names) {
    const live = await admin.getSubscription(name);
    if (!live || live.labels[OWNER_LABEL] !== desired.owner) continue;
    await admin.deleteSubscription(name);
    deleted.push(`subscription ${name}`);
  }
  if (topic && topic.labels[OWNER_LABEL] === desired.owner) {
    await admin.deleteTopic(desired.topic);
    deleted.push(`topic ${desired.topic}`);
  }
  return deleted;
}
