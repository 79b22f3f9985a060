/**
 * The socket channel: a notification for a connected user is published into the user's
 * personal room (`user:<escaped sub>`), so it takes the room's path everywhere — every pod and,
 * through the relay, every region where the user is subscribed — and stays in the room's
 * history for a client that recovers after a reconnect. Its message id is `notify:<id>`, so
 * the engine's idempotent publish makes a repeated delivery a no-op.
 *
 * Clients see it as a `notification` push (not `message`): a publication without a sender
 * (only the server publishes those) in a personal room whose id starts with `notify:`.
 */
import type { Publication } from '../engine/types.ts';
import { personalRoomPrefix } from '../rooms.ts';

export const notificationMidPrefix = 'notify:';

export function isNotificationPublication(pub: Publication): boolean {
  return pub.from === undefined && pub.mid.startsWith(notificationMidPrefix) && pub.room.startsWith(personalRoomPrefix);
}

/** The `notification` push (and history entry) for such a publication. */
export function notificationView(pub: Publication): Record<string, unknown> {
  return { op: 'notification', room: pub.room, epoch: pub.epoch, offset: pub.offset, mid: pub.mid, notification: pub.data, region: pub.region, ts: pub.ts };
}
