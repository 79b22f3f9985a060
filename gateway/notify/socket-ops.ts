/**
 * The notification ops of the WebSocket protocol (docs/protocol.md): a connected user manages
 * its own channels — settings, push subscriptions, room follows. The frame's fields are checked
 * by model.ts exactly as the HTTP API's bodies are.
 */
import type { RoomAccess } from '../rooms.ts';
import { gatewayError } from '../errors.ts';
import { validateRoom } from '../rooms.ts';
import type { Notifier } from './notifier.ts';
import { settingsView } from './views.ts';

export const notifyOps = ['notify_settings', 'notify_update', 'push_subscribe', 'push_unsubscribe', 'notify_follow', 'notify_unfollow'] as const;
export type NotifyOp = (typeof notifyOps)[number];

export function isNotifyOp(op: string): op is NotifyOp {
  return (notifyOps as readonly string[]).includes(op);
}

/** Serves one notification op for the connection's user; the reply without `id`. */
export async function serveNotifyOp(notifier: Notifier, access: RoomAccess, op: NotifyOp, fields: Record<string, unknown>, maxRoomNameLength: number): Promise<Record<string, unknown>> {
  const user = access.user;
  const followRoom = () => {
    const room = validateRoom(fields.room, maxRoomNameLength);
    if (!access.allows(room)) throw gatewayError('FORBIDDEN', `the token does not allow room ${room}`);
    return room;
  };
  switch (op) {
    case 'notify_settings':
      return { op: 'notify_settings', ...settingsView(await notifier.settingsOf(user)) };
    case 'notify_update': {
      const { email, preferences } = fields;
      return { op: 'notify_settings', ...settingsView(await notifier.updateSettings(user, stripUndefined({ email, preferences }))) };
    }
    case 'push_subscribe':
      // `subscriptionId`, not `id`: a reply's `id` is the command's.
      return { op: 'push_subscribed', subscriptionId: (await notifier.addPush(user, fields.subscription)).id };
    case 'push_unsubscribe': {
      const { id, removed } = await notifier.removePush(user, fields.subscriptionId);
      return { op: 'push_unsubscribed', subscriptionId: id, removed };
    }
    case 'notify_follow': {
      const room = followRoom();
      await notifier.follow(user, room);
      return { op: 'notify_followed', room };
    }
    case 'notify_unfollow': {
      const room = validateRoom(fields.room, maxRoomNameLength);
      await notifier.unfollow(user, room);
      return { op: 'notify_unfollowed', room };
    }
  }
}

function stripUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
