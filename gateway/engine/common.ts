/**
 * Pieces every engine backend shares: option validation, epoch ids, input checks, a silent
 * logger, and the error for bad arguments.
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { defaultEngineOptions, type EngineOptions, type HistoryReadOptions, type Member, type PublishInput } from './types.ts';

/** For tests and embedders that want no output. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A caller passed something an engine cannot store (a programming error in the caller). */
export class EngineInputError extends Error {
  readonly code = 'BAD_REQUEST';
  constructor(message: string) {
    super(message);
    this.name = 'EngineInputError';
  }
}

function positiveInteger(options: EngineOptions, field: keyof EngineOptions): void {
  const value = options[field];
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new EngineInputError(`engine option ${field} must be a positive integer, got ${String(value)}`);
  }
}

/** Defaults filled in, every field checked, frozen. */
export function resolveEngineOptions(partial: Partial<EngineOptions> = {}): Readonly<EngineOptions> {
  const options: EngineOptions = { ...defaultEngineOptions, ...partial };
  for (const field of Object.keys(defaultEngineOptions) as (keyof EngineOptions)[]) positiveInteger(options, field);
  return Object.freeze(options);
}

/** Random per process, so epochs from different pods or restarts never meet. */
const epochPrefix = randomBytes(6).toString('hex');
let epochCounter = 0;

/**
 * A fresh epoch: a per-process random prefix and a counter. It never contains ':' (the Redis
 * channel framing relies on that) and never repeats, so offsets from a lost history are never
 * mistaken for new ones. Cheap, because the Redis engine passes one with every publish (the
 * script uses it only when the room has none).
 */
export function newEpoch(): string {
  epochCounter += 1;
  return epochPrefix + epochCounter.toString(36);
}

export function checkRoom(room: unknown): asserts room is string {
  if (typeof room !== 'string' || room.length === 0) throw new EngineInputError('room must be a non-empty string');
}

export function checkRooms(rooms: readonly unknown[]): asserts rooms is readonly string[] {
  if (!Array.isArray(rooms)) throw new EngineInputError('rooms must be an array of room names');
  for (const room of rooms) checkRoom(room);
}

export function checkPublishInput(input: PublishInput): void {
  checkRoom(input?.room);
  if (typeof input.mid !== 'string' || input.mid.length === 0) throw new EngineInputError('mid must be a non-empty string');
  if (typeof input.region !== 'string' || input.region.length === 0) throw new EngineInputError('region must be a non-empty string');
  if (!Number.isFinite(input.ts)) throw new EngineInputError('ts must be a number of milliseconds');
  if (input.data === undefined) throw new EngineInputError('data must be a JSON value');
}

export function checkReadOptions(options: HistoryReadOptions): void {
  if (!Number.isSafeInteger(options?.limit) || options.limit < 0) {
    throw new EngineInputError('history limit must be a non-negative integer');
  }
  if (options.since !== undefined && (!Number.isSafeInteger(options.since) || options.since < 0)) {
    throw new EngineInputError('history since must be a non-negative integer offset');
  }
  if (options.maxBytes !== undefined && (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1)) {
    throw new EngineInputError('history maxBytes must be a positive integer');
  }
}

export function checkMember(member: Member): void {
  if (typeof member?.client !== 'string' || member.client.length === 0) throw new EngineInputError('member.client must be a non-empty string');
  if (typeof member.user !== 'string' || member.user.length === 0) throw new EngineInputError('member.user must be a non-empty string');
  if (typeof member.region !== 'string') throw new EngineInputError('member.region must be a string');
}

/** Unique users among members: what `PresenceStats.users` counts. */
export function countUsers(members: readonly Member[]): number {
  return new Set(members.map((m) => m.user)).size;
}
