/**
 * Room names and the patterns in a token's `rooms` claim.
 *
 * A room name is 1..maxLength characters of `[A-Za-z0-9_.:@-]`: safe in Redis keys, Pub/Sub
 * attributes, URLs and logs without escaping. A pattern is a room name that may end in `*`
 * (`math-*`), or `*` alone.
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

export function personalRoom(user: string): string {
  return `user:${user}`;
}

/** Decides which rooms a user may subscribe to and publish in. */
export class RoomAccess {
  readonly user: string;
  private readonly personal: string;
  // Most tokens hold a pattern or two: lists are smaller than sets and as fast at that size.
  private readonly exact: readonly string[];
  private readonly prefixes: readonly string[];
  private readonly all: boolean;

  constructor(user: string, patterns: readonly string[]) {
    this.user = user;
    this.personal = personalRoom(user);
    this.all = patterns.includes('*');
    this.exact = patterns.filter((p) => !p.endsWith('*'));
    this.prefixes = patterns.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1));
  }

  allows(room: string): boolean {
    if (this.all || room === this.personal || this.exact.includes(room)) return true;
    return this.prefixes.some((prefix) => room.startsWith(prefix));
  }
}
