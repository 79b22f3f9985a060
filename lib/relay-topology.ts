/**
 * The relay's Pub/Sub topology as both sides see it: the gateway (which consumes it, and
 * creates it itself only with `relay.pubsub.create`) and the operator (which owns it). One
 * definition, so that a subscription made by either has the same name and the same settings.
 * Why each setting has its value: docs/relay.md, "Topology".
 */

/** The region's subscription to the cluster's topic, shared by every pod of the region. */
export function subscriptionName(topic: string, region: string): string {
  return `${topic}-${region}`;
}

/**
 * Keeps a region's own envelopes out of its subscription. An optimisation only: the emulator
 * stores filters without applying them, so a receiving pod drops its own region's envelopes too.
 */
export function originFilter(region: string): string {
  return `attributes.origin != "${region}"`;
}

export const RELAY_SUBSCRIPTION_DEFAULTS = Object.freeze({
  /**
   * For pull consumers other than the gateways (a person with `gcloud pubsub subscriptions
   * pull`): a gateway's streaming pull sets its own deadline and extends it while it holds a message.
   */
  ackDeadlineSeconds: 30,
  /** A region that is down catches up on a day of messages; beyond that they are dropped by Pub/Sub. */
  messageRetentionSeconds: 86_400,
});

/** The settings of a region's subscription, in the Pub/Sub API's field names. */
export interface RelaySubscriptionSettings {
  enableMessageOrdering: true;
  filter: string;
  ackDeadlineSeconds: number;
  messageRetentionDuration: { seconds: number };
  /** No `ttl`: the subscription never expires (the operator deletes it when the region goes). */
  expirationPolicy: Record<string, never>;
}

export function relaySubscriptionSettings(region: string, ackDeadlineSeconds: number = RELAY_SUBSCRIPTION_DEFAULTS.ackDeadlineSeconds): RelaySubscriptionSettings {
  return {
    enableMessageOrdering: true,
    filter: originFilter(region),
    ackDeadlineSeconds,
    messageRetentionDuration: { seconds: RELAY_SUBSCRIPTION_DEFAULTS.messageRetentionSeconds },
    expirationPolicy: {},
  };
}
