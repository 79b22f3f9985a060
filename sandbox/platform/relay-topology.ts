/**
 * The Pub/Sub topology of the sample cluster on the local emulator: the relay topic and one
 * subscription per region, as docs/relay.md describes them (message ordering on, the filter on
 * the origin, ack deadline 30 s). In a real project the platform team (or the operator, once
 * it does) creates them; the gateways rendered by the operator do not. The emulator keeps
 * nothing across restarts, so this runs at every start.
 */
import { PubSub } from '@google-cloud/pubsub';
import { subscriptionName } from '../../gateway/relay/pubsub-bus.ts';

const ALREADY_EXISTS = 6;

export async function createRelayTopology(options: { host: string; projectId: string; topic: string; regions: string[] }): Promise<void> {
  const client = new PubSub({ projectId: options.projectId, apiEndpoint: options.host, emulatorMode: true });
  const tolerate = (error: { code?: number }) => {
    if (error.code !== ALREADY_EXISTS) throw error;
  };
  try {
    await client.createTopic(options.topic).catch(tolerate);
    await Promise.all(
      options.regions.map((region) =>
        client
          .topic(options.topic)
          .createSubscription(subscriptionName(options.topic, region), { enableMessageOrdering: true, filter: `attributes.origin != "${region}"`, ackDeadlineSeconds: 30 })
          .catch(tolerate),
      ),
    );
  } finally {
    await client.close();
  }
}
