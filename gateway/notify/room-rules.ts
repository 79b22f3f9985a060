/**
 * Room rules: in rooms matching `notify.roomRules` (patterns such as `class-*`), a publish
 * whose `data` holds a `notify` object (`{title, body, urgency?, link?, collapseKey?}`) also
 * sends that notification to the room's followers, the publisher excepted. The engine seen by
 * publishers is wrapped, after the publish succeeded and only for a first publish (a duplicate
 * `mid` notifies nobody again); messages relayed from other regions are notified there.
 */
import type { Engine } from '../engine/types.ts';
import type { Notifier } from './notifier.ts';

export function parseRoomRules(value: string | undefined): string[] {
  return (value ?? '').split(',').map((p) => p.trim()).filter(Boolean);
}

function matches(patterns: readonly string[], room: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? room.startsWith(p.slice(0, -1)) : room === p));
}

export function withRoomRules(engine: Engine, notifier: Notifier, patterns: readonly string[], onError: (error: unknown, room: string) => void): Engine {
  if (patterns.length === 0) return engine;
  return {
    ...engine,
    name: engine.name,
    history: engine.history,
    presence: engine.presence,
    start: (handlers) => engine.start(handlers),
    healthy: () => engine.healthy(),
    close: () => engine.close(),
    get counters() {
      return engine.counters;
    },
    broker: {
      ...engine.broker,
      async publish(input) {
        const result = await engine.broker.publish(input);
        const rule = (input.data as { notify?: unknown } | null)?.notify;
        if (!result.duplicate && typeof rule === 'object' && rule !== null && matches(patterns, input.room)) {
          // The notification id follows the message id, so a retried publish is no second send.
          const body = { urgency: 'normal', ...(rule as object), id: `room:${input.room}:${input.mid}`, to: { room: input.room } };
          notifier.send(body, 'rule', input.from?.user).catch((error: unknown) => onError(error, input.room));
        }
        return result;
      },
    },
  };
}
