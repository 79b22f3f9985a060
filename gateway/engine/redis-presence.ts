/**
 * Presence in Redis: per room a hash of members and a zset of expiry times, through the
 * presence_*.lua scripts. Expired entries are removed by the read itself, so a crashed pod's
 * members disappear within the TTL without anyone cleaning up after it.
 */
import { checkMember, checkRoom, countUsers, EngineInputError } from './common.ts';
import { decodeMember, encodeMember, isMalformed } from './redis-format.ts';
import type { RedisStoreContext } from './redis-store.ts';
import { EngineUnavailableError, type Member, type PresenceStats } from './types.ts';

export class RedisPresenceStore {
  readonly #context: RedisStoreContext;

  constructor(context: RedisStoreContext) {
    this.#context = context;
  }

  async add(room: string, member: Member): Promise<void> {
    checkRoom(room);
    checkMember(member);
    const { scripts, keys, options, now } = this.#context;
    const ttl = options.presenceTtlMs;
    await scripts.meridianPresenceAdd(keys.presence(room), keys.presenceExpiry(room), member.client, encodeMember(member), now() + ttl, ttl);
  }

  async remove(room: string, client: string): Promise<void> {
    checkRoom(room);
    if (typeof client !== 'string') throw new EngineInputError('client must be a string');
    const { scripts, keys } = this.#context;
    await scripts.meridianPresenceRemove(keys.presence(room), keys.presenceExpiry(room), client);
  }

  async list(room: string): Promise<Member[]> {
    checkRoom(room);
    const { scripts, keys, now, maxPayloadBytes } = this.#context;
    const reply = await scripts.meridianPresenceGet(keys.presence(room), keys.presenceExpiry(room), now());
    if (!Array.isArray(reply)) throw new EngineUnavailableError('unexpected reply from the presence script');
    const members: Member[] = [];
    for (const value of reply) {
      const member = typeof value === 'string' && value.length <= maxPayloadBytes ? decodeMember(value) : { malformed: 'not a string or too large' };
      if (isMalformed(member)) this.#context.malformed('malformedPresenceEntries', room, member.malformed, typeof value === 'string' ? value.length : 0);
      else members.push(member);
    }
    return members;
  }

  async count(room: string): Promise<number> {
    checkRoom(room);
    const { scripts, keys, now } = this.#context;
    const reply = await scripts.meridianPresenceCount(keys.presenceExpiry(room), now());
    if (typeof reply !== 'number') throw new EngineUnavailableError('unexpected reply from the presence count script');
    return reply;
  }

  async stats(room: string): Promise<PresenceStats> {
    const members = await this.list(room);
    return { clients: members.length, users: countUsers(members) };
  }
}
