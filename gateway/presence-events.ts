/**
 * join/leave pushes, coalesced per room so that subscribe/unsubscribe churn cannot multiply
 * into pushes to every member (one client toggling a room of N members would otherwise cost
 * 2·N pushes per cycle).
 *
 * Per room, at most one batch of events goes out per `presence.eventWindowMs`: an event in a
 * quiet room is pushed at once and opens a window; events during the window wait for its end,
 * keyed by client, where a join and a leave of the same client cancel out (the members' view
 * did not change) and a repeated event replaces the earlier one. So a room's members get at
 * most one push per changed client per window, whatever the churn. Join/leave pushes were at
 * most once already: `presence` stays the reference.
 */
import type { RoomEvent } from './engine/types.ts';

export interface PresenceEventsOptions {
  /** 0 pushes every event at once. */
  windowMs: number;
  /** Pushes one event to the room's local subscribers (the hub). */
  push: (room: string, event: RoomEvent) => void;
}

interface RoomWindow {
  /** Events waiting for the window's end, by client, in the order they first arrived. */
  readonly pending: Map<string, RoomEvent>;
  timer: NodeJS.Timeout;
}

export class PresenceEvents {
  private readonly options: PresenceEventsOptions;
  private readonly windows = new Map<string, RoomWindow>();

  constructor(options: PresenceEventsOptions) {
    this.options = options;
  }

  add(room: string, event: RoomEvent): void {
    const { windowMs, push } = this.options;
    if (windowMs === 0) {
      push(room, event);
      return;
    }
    const window = this.windows.get(room);
    if (!window) {
      push(room, event);
      this.open(room);
      return;
    }
    const client = event.member.client;
    const earlier = window.pending.get(client);
    if (earlier && earlier.type !== event.type) window.pending.delete(client);
    else window.pending.set(client, event);
  }

  /** Stops every window's timer; waiting events are dropped (the gateway is closing). */
  stop(): void {
    for (const window of this.windows.values()) clearTimeout(window.timer);
    this.windows.clear();
  }

  private open(room: string): void {
    const timer = setTimeout(() => this.windowEnded(room), this.options.windowMs);
    timer.unref();
    const window = this.windows.get(room);
    if (window) window.timer = timer;
    else this.windows.set(room, { pending: new Map(), timer });
  }

  /** Pushes what waited and opens the next window; a room with nothing waiting becomes quiet. */
  private windowEnded(room: string): void {
    const window = this.windows.get(room);
    if (!window) return;
    if (window.pending.size === 0) {
      this.windows.delete(room);
      return;
    }
    const events = [...window.pending.values()];
    window.pending.clear();
    this.open(room);
    for (const event of events) this.options.push(room, event);
  }
}
