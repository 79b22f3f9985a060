/**
 * AI on room traffic: moderation of client publishes and each room's rolling sentiment.
 *
 * Moderation, per room pattern (first matching rule of ai.moderation):
 * - `off`: nothing.
 * - `flag`: the publish goes on at once; the verdict comes later and, when flagged, a `flag`
 *   event is published in the room `<ai.moderatorRoomPrefix><room>` (moderators are the users
 *   whose token allows that room), so it reaches them on every pod and stays in its history.
 * - `block`: the publish waits for the verdict up to the rule's `timeoutMs` and fails with
 *   BLOCKED when flagged. A late verdict (or a failed one) applies the rule's `onTimeout`
 *   (`allow` or `block`) and is logged.
 *
 * Sentiment: each message in a room matching ai.sentiment.rooms is scored in-process (the
 * offline analyzer: no cost, no network) and added to per-minute tallies in the engine, so the
 * score read from any pod is the mean over the region's last ai.sentimentWindowMinutes minutes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.ts';
import { gatewayError } from '../errors.ts';
import { RoomAccess } from '../rooms.ts';
import type { AiConfig, ModerationRule } from './config.ts';
import type { ExecutionResult } from './executor.ts';
import type { AiMetrics } from './metrics.ts';
import { readModeration } from './prompts.ts';
import { messageText } from './request-input.ts';
import { TextAnalyzer, type ModerationResult } from './text-analysis.ts';

const minuteMs = 60_000;

export interface PublishToScreen {
  room: string;
  mid: string;
  data: unknown;
  user?: string;
}

export interface RoomSentiment {
  room: string;
  /** Mean score (-1..1) over the window; 0 with no messages. */
  score: number;
  messages: number;
  windowMinutes: number;
}

export interface RoomAiDeps {
  config: AiConfig;
  engine: Pick<Engine, 'broker' | 'tallies'>;
  metrics: AiMetrics;
  logger: Logger;
  region: string;
  now: () => number;
  moderate(text: string): Promise<ExecutionResult>;
}

export class RoomAi {
  private readonly deps: RoomAiDeps;
  private readonly rules: Array<{ match: RoomAccess; rule: ModerationRule }>;
  private readonly sentimentRooms: RoomAccess | undefined;
  private analyzer?: TextAnalyzer;
  /** Rooms whose sentiment this pod exports, oldest first (bounded by maxSentimentRooms). */
  private readonly exported = new Set<string>();

  constructor(deps: RoomAiDeps) {
    this.deps = deps;
    this.rules = deps.config.moderation.map((rule) => ({ match: new RoomAccess('', [rule.rooms]), rule }));
    this.sentimentRooms = deps.config.sentiment.rooms.length > 0 ? new RoomAccess('', deps.config.sentiment.rooms) : undefined;
  }

  /**
   * The publish seam: resolves when the message may be published (at once unless its room's
   * rule is `block`), throws BLOCKED when it may not. Starts flagging and sentiment scoring in
   * the background.
   */
  async screenPublish(message: PublishToScreen): Promise<void> {
    if (this.sentimentRooms?.allows(message.room)) this.observeSentiment(message.room, message.data);
    const rule = this.rules.find((r) => r.match.allows(message.room))?.rule;
    if (!rule || rule.mode === 'off') return;
    const text = messageText(message.data, this.deps.config.maxInputChars);
    if (text.trim().length === 0) return;
    const verdict = this.verdict(text);
    if (rule.mode === 'flag') {
      verdict.then(
        (result) => (result.flagged ? this.flag(message, result) : this.deps.metrics.moderation.inc({ mode: 'flag', verdict: 'allowed' })),
        (error: unknown) => {
          this.deps.metrics.moderation.inc({ mode: 'flag', verdict: 'error' });
          this.deps.logger.warn({ room: message.room, err: error }, 'moderation verdict failed; message not checked');
        },
      );
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), rule.timeoutMs)));
    const outcome = await Promise.race([verdict.catch(() => 'failed' as const), late]).finally(() => clearTimeout(timer));
    if (outcome === 'late' || outcome === 'failed') {
      this.deps.metrics.moderation.inc({ mode: 'block', verdict: outcome === 'late' ? 'timeout' : 'error' });
      this.deps.logger.warn({ room: message.room, timeoutMs: rule.timeoutMs, applied: rule.onTimeout, why: outcome }, 'moderation verdict not in time; the configured default applies');
      if (rule.onTimeout === 'block') throw gatewayError('BLOCKED', 'the message could not be checked in time and was not published');
      return;
    }
    this.deps.metrics.moderation.inc({ mode: 'block', verdict: outcome.flagged ? 'blocked' : 'allowed' });
    if (outcome.flagged) throw gatewayError('BLOCKED', `the message was blocked by moderation (${outcome.categories.join(', ') || 'flagged'})`);
  }

  private async verdict(text: string): Promise<ModerationResult> {
    const result = await this.deps.moderate(text);
    const verdict = readModeration(result.text);
    if (!verdict) throw new Error(`unreadable moderation answer from ${result.provider}`);
    return verdict;
  }

  private async flag(message: PublishToScreen, result: ModerationResult): Promise<void> {
    this.deps.metrics.moderation.inc({ mode: 'flag', verdict: 'flagged' });
    const room = this.deps.config.moderatorRoomPrefix + message.room;
    const data = { event: 'flag', room: message.room, mid: message.mid, user: message.user ?? null, categories: result.categories };
    try {
      // The mid is made here for this one publish: it cannot be a retry, so Redis need not look it up or remember it.
      await this.deps.engine.broker.publish({ room, mid: randomUUID(), freshMid: true, data, region: this.deps.region, ts: this.deps.now() });
    } catch (error) {
      this.deps.logger.error({ room: message.room, err: error }, 'flag event could not be published');
    }
  }

  private bucketKeys(room: string, minute: number): [string, string] {
    return [`sentiment:${room}:${minute}:sum`, `sentiment:${room}:${minute}:n`];
  }

  private observeSentiment(room: string, data: unknown): void {
    const text = messageText(data, this.deps.config.maxInputChars);
    if (text.trim().length === 0) return;
    this.analyzer ??= new TextAnalyzer();
    const { score } = this.analyzer.sentiment(text);
    const minute = Math.floor(this.deps.now() / minuteMs);
    const ttlMs = (this.deps.config.sentimentWindowMinutes + 1) * minuteMs;
    const [sumKey, countKey] = this.bucketKeys(room, minute);
    const { tallies } = this.deps.engine;
    Promise.all([tallies.add(sumKey, score, ttlMs), tallies.add(countKey, 1, ttlMs)])
      .then(() => this.sentiment(room))
      .then((current) => this.export(room, current.score))
      .catch((error: unknown) => this.deps.logger.warn({ room, err: error }, 'room sentiment not recorded'));
  }

  private export(room: string, score: number): void {
    this.exported.delete(room);
    this.exported.add(room);
    if (this.exported.size > this.deps.config.maxSentimentRooms) {
      const oldest = this.exported.values().next().value!;
      this.exported.delete(oldest);
      this.deps.metrics.roomSentiment.remove({ room: oldest });
    }
    this.deps.metrics.roomSentiment.set({ room }, score);
  }

  /** The room's rolling score over the region's last sentimentWindowMinutes minutes. */
  async sentiment(room: string): Promise<RoomSentiment> {
    const windowMinutes = this.deps.config.sentimentWindowMinutes;
    const now = Math.floor(this.deps.now() / minuteMs);
    const keys = Array.from({ length: windowMinutes }, (_, i) => this.bucketKeys(room, now - i)).flat();
    const values = await this.deps.engine.tallies.read(keys);
    let sum = 0;
    let messages = 0;
    for (let i = 0; i < values.length; i += 2) {
      sum += values[i];
      messages += values[i + 1];
    }
    return { room, score: messages > 0 ? Math.round((sum / messages) * 1000) / 1000 : 0, messages, windowMinutes };
  }
}
