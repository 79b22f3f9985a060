/**
 * The operations a client or a server can ask of the gateway — publish, presence, history —
 * built once. The WebSocket commands (commands.ts) and the HTTP server API (http-api.ts) parse
 * their own framing, call these, and only shape the reply (an `op` and `id` over WebSocket, a
 * JSON body over HTTP). Limits that apply to both live here or in the config, never twice.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from './config.ts';
import type { Engine, Member, Publication } from './engine/types.ts';
import { isNotificationPublication, notificationView } from './notify/socket-push.ts';

/** Longest `mid` (message id) a publish may carry. */
export const maxMidLength = 128;

/** History entries returned when a request names no `limit` (capped by history.maxRecover). */
export const defaultHistoryLimit = 50;

/** The message pushed to subscribers (and listed in subscribe/history replies without `op`). */
export function publicationView(pub: Publication): Record<string, unknown> {
  // A notification in a personal room carries `op: "notification"`, which takes the place of
  // the push's default `message` (the hub spreads this view after it) and marks the entry in
  // history and recovery lists.
  if (isNotificationPublication(pub)) return notificationView(pub);
  return { room: pub.room, epoch: pub.epoch, offset: pub.offset, mid: pub.mid, data: pub.data, from: pub.from, region: pub.region, ts: pub.ts };
}

export interface PublishRequest {
  room: string;
  data: unknown;
  /** The idempotency key; made when absent. */
  mid?: string;
  /** The publishing client; absent for the server API. */
  from?: { user: string; client: string };
}

export interface Published {
  room: string;
  epoch: string;
  offset: number;
  mid: string;
  duplicate: boolean;
}

export interface PresenceView {
  room: string;
  members: Member[];
  total: number;
}

export interface HistoryView {
  room: string;
  epoch: string;
  offset: number;
  messages: Record<string, unknown>[];
}

export interface OperationsDeps {
  config: GatewayConfig;
  engine: Engine;
  now: () => number;
}

export class Operations {
  private readonly deps: OperationsDeps;

  constructor(deps: OperationsDeps) {
    this.deps = deps;
  }

  /** The `limit` of a history request that names none. */
  get historyLimitDefault(): number {
    return Math.min(defaultHistoryLimit, this.deps.config.history.maxRecover);
  }

  async publish(request: PublishRequest): Promise<Published> {
    const { room, data, from } = request;
    const mid = request.mid ?? randomUUID();
    const { engine, config, now } = this.deps;
    const result = await engine.broker.publish({ room, mid, data, from, region: config.region, ts: now() });
    return { room, epoch: result.epoch, offset: result.offset, mid, duplicate: result.duplicate };
  }

  /** At most presence.maxMembers members; `total` counts them all. */
  async presence(room: string): Promise<PresenceView> {
    const members = await this.deps.engine.presence.list(room);
    return { room, members: members.slice(0, this.deps.config.presence.maxMembers), total: members.length };
  }

  async history(room: string, { limit = this.historyLimitDefault, since }: { limit?: number; since?: number }): Promise<HistoryView> {
    const page = await this.deps.engine.history.read(room, { limit, since });
    return { room, epoch: page.epoch, offset: page.offset, messages: page.publications.map(publicationView) };
  }
}
