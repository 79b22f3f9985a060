/**
 * Publish (store + broadcast) and history reads of the Redis engine, through the scripts
 * publish.lua and history.lua. Replies are checked before use; entries that are not what the
 * engine wrote are skipped and reported.
 */
import { checkPublishInput, checkReadOptions, checkRoom, newEpoch } from './common.ts';
import { decodeEntry, encodeBody, isMalformed } from './redis-format.ts';
import type { RedisStoreContext } from './redis-store.ts';
import { EngineUnavailableError, type HistoryPage, type HistoryReadOptions, type Publication, type PublishInput, type PublishResult, type StreamPosition } from './types.ts';

export class RedisHistoryStore {
  readonly #context: RedisStoreContext;

  constructor(context: RedisStoreContext) {
    this.#context = context;
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    checkPublishInput(input);
    const { scripts, keys, options } = this.#context;
    const { room, mid } = input;
    const reply = await scripts.meridianPublish(
      keys.stream(room),
      keys.meta(room),
      keys.result(room, mid),
      encodeBody(input),
      options.historySize,
      options.historyTtlMs,
      options.idempotencyTtlMs,
      newEpoch(),
      keys.channel(room),
    );
    const [epoch, offset, duplicate] = reply as [unknown, unknown, unknown];
    if (typeof epoch !== 'string' || typeof offset !== 'number') throw new EngineUnavailableError('unexpected reply from the publish script');
    return { epoch, offset, duplicate: duplicate === 1 };
  }

  async read(room: string, options: HistoryReadOptions): Promise<HistoryPage> {
    checkRoom(room);
    checkReadOptions(options);
    const newest = options.since === undefined;
    const { epoch, offset, entries } = await this.#stream(room, newest ? '' : String(options.since! + 1), options.limit, options.maxBytes ?? 0);
    if (newest) entries.reverse();
    const publications: Publication[] = [];
    for (const entry of entries) {
      const pub = decodeEntry(room, epoch, entry, this.#context.maxPayloadBytes);
      if (isMalformed(pub)) this.#context.malformed('malformedHistoryEntries', room, pub.malformed, 0);
      else publications.push(pub);
    }
    return { epoch, offset, publications };
  }

  async position(room: string): Promise<StreamPosition> {
    checkRoom(room);
    const { epoch, offset } = await this.#stream(room, '', 0, 0);
    return { epoch, offset };
  }

  /** Runs history.lua: `start` is the first offset wanted, '' for the newest `limit`; `maxBytes` 0 for no cap. */
  async #stream(room: string, start: string, limit: number, maxBytes: number): Promise<{ epoch: string; offset: number; entries: unknown[] }> {
    const { scripts, keys, options } = this.#context;
    const reply = await scripts.meridianHistory(keys.stream(room), keys.meta(room), newEpoch(), options.historyTtlMs, start, limit, maxBytes);
    const [epoch, offset, entries, problem] = reply as [unknown, unknown, unknown, unknown];
    if (typeof epoch !== 'string' || typeof offset !== 'number' || !Array.isArray(entries)) {
      throw new EngineUnavailableError('unexpected reply from the history script');
    }
    if (typeof problem === 'string' && problem.length > 0) this.#context.malformed('malformedHistoryEntries', room, problem, 0);
    return { epoch, offset, entries };
  }
}
