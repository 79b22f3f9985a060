/**
 * The Lua scripts of the Redis engine (gateway/engine/lua/*.lua), registered on a connection.
 * ioredis sends them with EVALSHA and falls back to EVAL after a Redis restart (NOSCRIPT).
 * Each starts with a `#!lua` shebang (Redis 7+), whose flags say whether Redis may run it when
 * used memory is above maxmemory: writers are refused before they run, readers are not.
 * lua/prelude.lua is inserted after the shebang of each, so they share one definition of what
 * counts as corruption.
 */
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

function read(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

/** What every script shares (error classification, offset bound and format). */
const prelude = read('prelude');

/** A script with the prelude inserted after its shebang line, which Redis requires to come first. */
function lua(name: string): string {
  const text = read(name);
  const shebangEnd = text.startsWith('#!') ? text.indexOf('\n') + 1 : 0;
  return text.slice(0, shebangEnd) + prelude + text.slice(shebangEnd);
}

const definitions = {
  meridianPublish: { numberOfKeys: 4, lua: lua('publish') },
  meridianHistory: { numberOfKeys: 2, lua: lua('history') },
  meridianPresenceAdd: { numberOfKeys: 2, lua: lua('presence_add') },
  meridianPresenceGet: { numberOfKeys: 2, lua: lua('presence_get') },
  meridianPresenceRemove: { numberOfKeys: 2, lua: lua('presence_remove') },
  meridianPresenceCount: { numberOfKeys: 1, lua: lua('presence_count') },
} as const;

/**
 * The health probe, sent with EVAL to each connection it checks (every master of a cluster): a
 * keyless script would otherwise reach one node picked at random.
 */
export const healthScript = lua('health');

type Arg = string | number;

/** The scripts as commands; replies are unchecked (`unknown`) until decoded. */
export interface ScriptCommands {
  meridianPublish(stream: string, meta: string, result: string, channel: string, body: string, historySize: Arg, historyTtlMs: Arg, idempotencyTtlMs: Arg, epoch: string, publishCommand: 'publish' | 'spublish', expirySlackMs: Arg): Promise<unknown>;
  meridianHistory(stream: string, meta: string, epoch: string, historyTtlMs: Arg, start: string, limit: Arg, maxBytes: Arg): Promise<unknown>;
  meridianPresenceAdd(members: string, expiry: string, client: string, member: string, expiresAt: Arg, ttlMs: Arg): Promise<unknown>;
  meridianPresenceGet(members: string, expiry: string, now: Arg): Promise<unknown>;
  meridianPresenceRemove(members: string, expiry: string, client: string): Promise<unknown>;
  meridianPresenceCount(expiry: string, now: Arg): Promise<unknown>;
}

export function defineScripts(redis: Redis | Cluster): ScriptCommands {
  for (const [name, definition] of Object.entries(definitions)) redis.defineCommand(name, definition);
  return redis as unknown as ScriptCommands;
}
