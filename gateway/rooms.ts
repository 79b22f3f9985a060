/**
 * Room names and the patterns in a token's `rooms` claim.
 *
 * A room name is 1..maxLength characters of `[A-Za-z0-9_.:@-]`: safe in Redis keys, Pub/Sub
 * attributes, URLs and logs without escaping. A pattern is a room name that may end in `*`
 * (`math-*`), or `*` alone.
 *
 * Names starting with `user:` are reserved for personal rooms: `user:` followed by the user's
 * `sub`, escaped so that one name belongs to exactly one `sub` (a `sub` may hold `:` or any
 * other character). Bytes of the sub's UTF-8 outside `[A-Za-z0-9_.-]` are written `@XX`
 * (upper-case hex), so `a:b` → `user:a@3Ab`, `a@3Ab` → `user:a@403Ab`. A token pattern never
 * grants a reserved name: each user reaches its own personal room and no other.
 */
import { gatewayError } from './errors.ts';

const roomCharset = /^[A-Za-z0-9_.:@-]+$/;
const patternCharset = /^[A-Za-z0-9_.:@-]*\*?$/;

/** Throws BAD_REQUEST naming `field` when `value` is not a valid room name. */
export function validateRoom(value: unknown, maxLength: number, field = 'room'): string {
  if (typeof value !== 'string') throw gatewayError('BAD_REQUEST', `${field} must be a string`);
  if (value.length === 0) throw gatewayError('BAD_REQUEST', `${field} must not be empty`);
  if (value.length > maxLength) throw gatewayError('BAD_REQUEST', `${field} must be at most ${maxLength} characters`);
  if (!roomCharset.test(value)) throw gatewayError('BAD_REQUEST', `${field} may only contain letters, digits and _ . : @ -`);
  return value;
}

export function isValidPattern(pattern: string): boolean {
  return pattern.length > 0 && patternCharset.test(pattern);
}

export const personalRoomPrefix = 'user:';

function isPlainSubByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x5f || byte === 0x2e || byte === 0x2d // _ . -
  );
}

/** The personal room of `user` (a token's `sub`): the one place its name is built. */
export function personalRoom(user: string): string {
  let escaped = '';
  for (const byte of Buffer.from(user, 'utf8')) {
    escaped += isPlainSubByte(byte) ? String.fromCharCode(byte) : '@' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return personalRoomPrefix + escaped;
}

/** The `sub` whose personal room `room` is, or undefined when `room` is no personal room name. */
export function personalRoomOwner(room: string): string | undefined {
  if (!room.startsWith(personalRoomPrefix)) return undefined;
  const escaped = room.slice(personalRoomPrefix.length);
  if (!/^(?:[A-Za-z0-9_.-]|@[0-9A-F]{2})+$/.test(escaped)) return undefined;
  const bytes = Buffer.from(escaped.replace(/@([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  const user = bytes.toString('utf8');
  // Only the canonical spelling names an owner (no `@2D` for `-`, no invalid UTF-8).
  return personalRoom(user) === room ? user : undefined;
}

/** Shared by every RoomAccess without exact names or prefixes (most tokens): one per connection adds up. */
const noPatterns: readonly string[] = Object.freeze([]);

/** Decides which rooms a user may subscribe to and publish in. */
export class RoomAccess {
  readonly user: string;
  readonly personalRoom: string;
  // Most tokens hold a pattern or two: lists are smaller than sets and as fast at that size.
  private readonly exact: readonly string[];
  private readonly prefixes: readonly string[];
  private readonly all: boolean;

  constructor(user: string, patterns: readonly string[]) {
    this.user = user;
    this.personalRoom = personalRoom(user);
    this.all = patterns.includes('*');
    const exact = patterns.filter((p) => !p.endsWith('*'));
    const prefixes = patterns.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1));
    this.exact = exact.length > 0 ? exact : noPatterns;
    this.prefixes = prefixes.length > 0 ? prefixes : noPatterns;
  }

  allows(room: string): boolean {
    // Reserved names first: `*` or a `user:*` pattern must not open another user's room.
    if (room.startsWith(personalRoomPrefix)) return room === this.personalRoom;
    if (this.all || this.exact.includes(room)) return true;
    return this.prefixes.some((prefix) => room.startsWith(prefix));
  }
}
