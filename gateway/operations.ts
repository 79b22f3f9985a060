/**
 * The operations a client or a server can ask of the gateway — publish, presence, history —
 * built once. The WebSocket commands (commands.ts) and the HTTP server API (http-api.ts) parse
 * their own framing, call these, and only shape the reply (an `op` and `id` over WebSocket, a
 * JSON body over HTTP). Limits that apply to both live here or in the config, never twice.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayConfig } from './config.ts';
import type { Engine, HistoryPage, Member, Publication, PublishInput } from './engine/types.ts';
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
  /** `mid` was made by the gateway for this publish, not sent by the client: it needs no dedupe. */
  freshMid?: boolean;
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
  /** Present when messages the request asked for did not fit: ask again with `since` = the last offset. */
  more?: true;
}

/**
 * The longest run of `publications`, oldest first, whose message views fit in `maxBytes` as
 * sent (one at least, so paging always moves on). `bytes` counts the views' JSON and a few
 * bytes per message for its framing.
 */
export function fitPage(publications: readonly Publication[], maxBytes: number): { messages: Record<string, unknown>[]; bytes: number } {
  const messages: Record<string, unknown>[] = [];
  let bytes = 0;
  for (const pub of publications) {
    const view = publicationView(pub);
    const size = Buffer.byteLength(JSON.stringify(view)) + perMessageFramingBytes;
    if (messages.length > 0 && bytes + size > maxBytes) break;
    messages.push(view);
    bytes += size;
  }
  return { messages, bytes };
}

/** A push's `{"op":"message",` and its WebSocket header, or a reply list's comma. */
const perMessageFramingBytes = 32;

/**
 * The byte budget of one history reply or recovery page: `limits.historyReplyBytes`, and never
 * more than half the outbound cap, so a page always fits beside what is already queued.
 */
export function historyPageBytes(config: GatewayConfig): number {
  return Math.min(config.limits.historyReplyBytes, Math.floor(config.limits.outboundQueueBytes / 2));
}

export interface OperationsDeps {
  config: GatewayConfig;
  engine: Engine;
  now: () => number;
  /**
   * Each publication this pod stored, once the engine accepted it: the hub delivers it to this
   * pod's subscribers at once, without waiting for the engine's broadcast to come back.
   */
  stored?: (pub: Publication) => void;
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
    const freshMid = request.mid === undefined || request.freshMid === true;
    const mid = request.mid ?? randomUUID();
    const { engine, config, now, stored } = this.deps;
    const input: PublishInput = { room, mid, data, region: config.region, ts: now() };
    if (from) input.from = from;
    if (freshMid) input.freshMid = true;
    const result = await engine.broker.publish(input);
    // A duplicate was delivered when it was first stored.
    if (!result.duplicate && stored) {
      const pub: Publication = { room, epoch: result.epoch, offset: result.offset, mid, data, region: input.region, ts: input.ts };
      if (from) pub.from = from;
      stored(pub);
    }
    return { room, epoch: result.epoch, offset: result.offset, mid, duplicate: result.duplicate };
  }

  /** At most presence.maxMembers members; `total` counts them all. */
  async presence(room: string): Promise<PresenceView> {
    const members = await this.deps.engine.presence.list(room);
    return { room, members: members.slice(0, this.deps.config.presence.maxMembers), total: members.length };
  }

  /**
   * One page of history: at most `limit` messages and `historyPageBytes` bytes, oldest first,
   * with `more` when the request's messages go on past the page. The engine read is capped at
   * the same bytes, so a large `limit` never pulls more than a page from the backend. Returns
   * undefined, without encoding anything, once `wanted()` turns false (the asker went away).
   */
  async history(room: string, { limit = this.historyLimitDefault, since }: { limit?: number; since?: number }, wanted: () => boolean = always): Promise<HistoryView | undefined> {
    const maxBytes = historyPageBytes(this.deps.config);
    const { history } = this.deps.engine;
    if (!wanted()) return undefined;
    let page = await history.read(room, { limit, since, maxBytes });
    if (since === undefined && leftOutOlder(page, limit)) {
      // A newest-first read cut short by the byte cap kept the newest; a page runs forward from
      // the oldest asked for, so the client can page on with `since`.
      if (!wanted()) return undefined;
      page = await history.read(room, { limit, since: Math.max(0, page.offset - limit), maxBytes });
    }
    if (!wanted()) return undefined;
    const { messages } = fitPage(page.publications, maxBytes);
    const view: HistoryView = { room, epoch: page.epoch, offset: page.offset, messages };
    const last = page.publications[messages.length - 1]?.offset;
    if (last !== undefined && messages.length < limit && last < page.offset) view.more = true;
    return view;
  }
}

const always = (): boolean => true;

/** True when a newest-first page lacks some of the `limit` newest offsets it could have held. */
function leftOutOlder(page: HistoryPage, limit: number): boolean {
  const first = page.publications[0]?.offset;
  return first !== undefined && page.publications.length < limit && first > Math.max(1, page.offset - limit + 1);
}
