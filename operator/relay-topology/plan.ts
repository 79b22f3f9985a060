/**
 * The relay topology a RealtimeCluster wants: its topic (the name the gateways are configured
 * with) and one subscription per spec region, named and set up as lib/relay-topology.ts says,
 * with labels that say which cluster owns them. Only what carries this cluster's owner label is
 * ever deleted: a topic or subscription made by hand, or by another cluster, is left alone.
 */
import { createHash } from 'node:crypto';
import type { RealtimeCluster } from '../../crds/types.ts';
import { relaySubscriptionSettings, subscriptionName, type RelaySubscriptionSettings } from '../../lib/relay-topology.ts';
import { defaultTopic } from '../reconcile/desired.ts';
import { FIELD_MANAGER } from '../types.ts';

/** Pub/Sub label keys (lower-case letters, digits, `-` and `_`). */
export const MANAGED_BY_LABEL = 'managed-by';
export const OWNER_LABEL = 'meridian-cluster';
export const REGION_LABEL = 'meridian-region';

export interface DesiredSubscription {
  region: string;
  name: string;
  settings: RelaySubscriptionSettings;
  labels: Record<string, string>;
}

export interface DesiredTopology {
  projectId: string;
  topic: string;
  /** The OWNER_LABEL value of this cluster. */
  owner: string;
  topicLabels: Record<string, string>;
  subscriptions: DesiredSubscription[];
}

/**
 * The OWNER_LABEL value: `<namespace>_<name>`. Pub/Sub label values allow no `.`, and both parts
 * are DNS-1123 labels that crds/validate.ts keeps within 63 characters together; a longer pair
 * (a cluster made before that check) gets a hash in place of its tail.
 */
export function ownerLabelValue(namespace: string, name: string): string {
  const value = `${namespace}_${name}`;
  if (value.length <= 63) return value;
  return `${value.slice(0, 46)}-${createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 16)}`;
}

/** The topology of a cluster with spec.relay.pubsub; undefined without it. */
export function desiredTopology(cluster: RealtimeCluster): DesiredTopology | undefined {
  const pubsub = cluster.spec.relay?.pubsub;
  if (!pubsub) return undefined;
  const namespace = cluster.metadata.namespace ?? '';
  const name = cluster.metadata.name ?? '';
  const topic = pubsub.topic ?? defaultTopic(namespace, name);
  const owner = ownerLabelValue(namespace, name);
  const topicLabels = { [MANAGED_BY_LABEL]: FIELD_MANAGER, [OWNER_LABEL]: owner };
  return {
    projectId: pubsub.projectId,
    topic,
    owner,
    topicLabels,
    subscriptions: cluster.spec.regions.map((region) => ({
      region: region.name,
      name: subscriptionName(topic, region.name),
      settings: relaySubscriptionSettings(region.name),
      labels: { ...topicLabels, [REGION_LABEL]: region.name },
    })),
  };
}

export function topicPath(projectId: string, topic: string): string {
  return `projects/${projectId}/topics/${topic}`;
}

export function subscriptionPath(projectId: string, name: string): string {
  return `projects/${projectId}/subscriptions/${name}`;
}
