/**
 * The Lua scripts of the Redis engine (gateway/engine/lua/*.lua), registered on a connection.
 * ioredis sends them with EVALSHA and falls back to EVAL after a Redis restart (NOSCRIPT).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

function lua(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

const definitions = {
  meridianPublish: { numberOfKeys: 3, lua: lua('publish') },
  meridianHistory: { numberOfKeys: 2, lua: lua('history') },
  meridianPresenceAdd: { numberOfKeys: 2, lua: lua('presence_add') },
  meridianPresenceGet: { numberOfKeys: 2, lua: lua('presence_get') },
  meridianPresenceRemove: { numberOfKeys: 2, lua: lua('presence_remove') },
} as const;

type Arg = string | number;

/** The scripts as commands; replies are unchecked (`unknown`) until decoded. */
export interface ScriptCommands {
  meridianPublish(stream: string, meta: string, result: string, body: string, historySize: Arg, historyTtlMs: Arg, idempotencyTtlMs: Arg, epoch: string, channel: string): Promise<unknown>;
  meridianHistory(stream: string, meta: string, epoch: string, historyTtlMs: Arg, start: string, limit: Arg, maxBytes: Arg): Promise<unknown>;
  meridianPresenceAdd(members: string, expiry: string, client: string, member: string, expiresAt: Arg, ttlMs: Arg): Promise<unknown>;
  meridianPresenceGet(members: string, expiry: string, now: Arg): Promise<unknown>;
  meridianPresenceRemove(members: string, expiry: string, client: string): Promise<unknown>;
}

export function defineScripts(redis: Redis): ScriptCommands {
  for (const [name, definition] of Object.entries(definitions)) redis.defineCommand(name, definition);
  return redis as unknown as ScriptCommands;
}
