/**
 * Small pieces the engine tests share: a handler that records deliveries, unique room names,
 * and publish inputs.
 */
import { randomUUID } from 'node:crypto';
import type { EngineHandlers, Publication, PublishInput, RoomEvent } from '../gateway/engine/types.ts';
import { waitFor } from './helpers/net.ts';

/** Records what an engine delivers, for assertions. */
export class Recorder implements EngineHandlers {
  readonly publications: Publication[] = [];
  readonly events: { room: string; event: RoomEvent }[] = [];
  readonly resyncs: string[][] = [];

  publication(pub: Publication): void {
    this.publications.push(pub);
  }

  roomEvent(room: string, event: RoomEvent): void {
    this.events.push({ room, event });
  }

  resynced(rooms: readonly string[]): void {
    this.resyncs.push([...rooms]);
  }

  inRoom(room: string): Publication[] {
    return this.publications.filter((p) => p.room === room);
  }

  /** Waits until the room has delivered at least `count` publications; returns them. */
  async received(room: string, count: number, timeoutMs = 10_000): Promise<Publication[]> {
    await waitFor(() => this.inRoom(room).length >= count, { what: `${count} publications in ${room}`, timeoutMs });
    return this.inRoom(room);
  }
}

export function uniqueRoom(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

export function input(room: string, data: unknown, extra: Partial<PublishInput> = {}): PublishInput {
  return { room, mid: randomUUID(), data, region: 'test-region', ts: 1_700_000_000_000, from: { user: 'u1', client: 'c1' }, ...extra };
}

