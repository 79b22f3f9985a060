/**
 * The relay's one seam into the gateway: an Engine that behaves exactly like the region's
 * engine and, once a call succeeded, tells the relay what this region accepted (a stored
 * publish, a presence entry added or removed, an announced join/leave). Publishers, the hub and
 * the presence tracker use it unchanged; the relay applies what other regions sent to the
 * engine underneath, so a relayed message never goes out again.
 *
 * Nothing here waits for the bus: the relay only queues (relay.ts, outbox.ts). `healthy()` is
 * the engine's alone (and `health()`), so /readyz stays ready while the relay is degraded.
 */
import type { Engine } from '../engine/types.ts';
import type { Relay } from './relay.ts';

export function relayedEngine(inner: Engine, relay: Relay): Engine {
  return {
    name: inner.name,
    history: inner.history,
    tallies: inner.tallies,
    get counters() {
      return inner.counters;
    },
    broker: {
      async publish(input) {
        const result = await inner.broker.publish(input);
        // A duplicate was handed over by its first publish.
        if (!result.duplicate) relay.accepted({ ...input, epoch: result.epoch, offset: result.offset });
        return result;
      },
      async publishEvent(room, event) {
        await inner.broker.publishEvent(room, event);
        relay.eventAnnounced(room, event);
      },
      subscribe: (rooms) => inner.broker.subscribe(rooms),
      unsubscribe: (rooms) => inner.broker.unsubscribe(rooms),
    },
    presence: {
      async add(room, member) {
        await inner.presence.add(room, member);
        relay.memberAdded(room, member);
      },
      async remove(room, client) {
        await inner.presence.remove(room, client);
        relay.memberRemoved(room, client);
      },
      list: (room) => inner.presence.list(room),
      stats: (room) => inner.presence.stats(room),
      count: (room) => inner.presence.count(room),
    },
    async start(handlers) {
      await inner.start(handlers);
      await relay.start();
    },
    healthy: () => inner.healthy(),
    health: () => inner.health(),
    async close() {
      await relay.close();
      await inner.close();
    },
  };
}
