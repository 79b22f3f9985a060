/**
 * Publish (store + broadcast) and history reads of the Redis engine, through the scripts
 * publish.lua and history.lua. Replies are checked before use; entries that are not what the
 * engine wrote are skipped and reported.
 */
import { checkPublishInput, checkReadOptions, checkRoom, newEpoch } from './common.ts';
import { decodeEntry, encodeBody, isMalformed } from './redis-format.ts';
import type { RedisStoreContext } from './redis-store.ts';
import { EngineUnavailableError, MAX_OFFSET, type HistoryPage, type HistoryReadOptions, type Publication, type PublishInput, type PublishResult, type StreamPosition } from './types.ts';

export class RedisHistoryStore {
  readonly #context: RedisStoreContext;

  constructor(context: RedisStoreContext) {
    this.#context = context;
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    checkPublishInput(input);
    const { keys, options } = this.#context;
    const { room, mid } = input;
    const reply = await this.#context.publish(
      keys.stream(room),
      keys.meta(room),
      keys.result(room, mid),
      keys.channel(room),
      encodeBody(input),
      options.historySize,
      options.historyTtlMs,
      // 0: a fresh mid cannot be a retry, so the script neither looks it up nor remembers it.
      input.freshMid ? 0 : options.idempotencyTtlMs,
      newEpoch(),
      this.#context.publishCommand,
      expirySlackMs(options.historyTtlMs),
    );
    const [epoch, text, duplicate] = reply as [unknown, unknown, unknown];
    const offset = parseOffset(text);
    if (typeof epoch !== 'string' || offset === undefined || offset === 0) throw new EngineUnavailableError('unexpected reply from the publish script');
    return { epoch, offset, duplicate: duplicate === 1 };
  }

  async read(room: string, options: HistoryReadOptions): Promise<HistoryPage> {
    checkRoom(room);
    checkReadOptions(options);
    const newest = options.since === undefined;
    const { epoch, offset, entries, truncated } = await this.#stream(room, newest ? '' : String(options.since! + 1), options.limit, options.maxBytes);
    if (newest) entries.reverse();
    const publications: Publication[] = [];
    for (const entry of entries) {
      const pub = decodeEntry(room, epoch, entry, this.#context.maxPayloadBytes);
      if (isMalformed(pub)) this.#context.malformed('malformedHistoryEntries', room, pub.malformed, 0);
      else publications.push(pub);
    }
    return { epoch, offset, publications, truncated };
  }

  async position(room: string): Promise<StreamPosition> {
    checkRoom(room);
    const { epoch, offset } = await this.#stream(room, '', 0, undefined);
    return { epoch, offset };
  }

  /** Runs history.lua: `start` is the first offset wanted, '' for the newest `limit`; `maxBytes` narrows `maxReadBytes` for one read. */
  async #stream(room: string, start: string, limit: number, maxBytes: number | undefined): Promise<{ epoch: string; offset: number; entries: unknown[]; truncated: boolean }> {
    const { scripts, keys, options } = this.#context;
    const reply = await scripts.meridianHistory(keys.stream(room), keys.meta(room), newEpoch(), options.historyTtlMs, start, limit, Math.min(options.maxReadBytes, maxBytes ?? Number.POSITIVE_INFINITY));
    const [epoch, text, entries, problem, truncated] = reply as [unknown, unknown, unknown, unknown, unknown];
    const offset = parseOffset(text);
    if (typeof epoch !== 'string' || offset === undefined || !Array.isArray(entries)) {
      throw new EngineUnavailableError('unexpected reply from the history script');
    }
    if (typeof problem === 'string' && problem.length > 0) this.#context.malformed('malformedHistoryEntries', room, problem, 0);
    return { epoch, offset, entries, truncated: truncated === 1 };
  }
}

/**
 * How much longer than `historyTtlMs` a room's keys may live: publish.lua renews their expiry
 * to TTL + slack only once less than TTL is left, so a busy room pays for the renewal once per
 * slack rather than on every publish. A tenth of the TTL: a 10 min history lives 10–11 min
 * after its last publish.
 */
export function expirySlackMs(historyTtlMs: number): number {
  return Math.ceil(historyTtlMs / 10);
}

/** The scripts send offsets as decimal strings within range; anything else did not come from them. */
function parseOffset(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value)) return undefined;
  const offset = Number(value);
  return offset <= MAX_OFFSET ? offset : undefined;
}
