/**
 * Protocol v1 client frames: JSON text → typed commands, with BAD_REQUEST messages that name
 * the offending field. Any input (binary, invalid UTF-8, deep nesting, huge numbers) yields a
 * command or a GatewayError, never an exception of another kind.
 */
import { gatewayError, GatewayError } from './errors.ts';
import { maxMidLength } from './operations.ts';
import { validateRoom } from './rooms.ts';

export interface RecoverPosition {
  epoch: string;
  offset: number;
}

export type Command =
  /** `token` is '' when missing or not a string: the verifier refuses it with 4001. */
  | { op: 'connect'; id?: number; token: string }
  | { op: 'subscribe'; id?: number; room: string; recover?: RecoverPosition }
  | { op: 'unsubscribe'; id?: number; room: string }
  | { op: 'publish'; id?: number; room: string; data: unknown; mid?: string }
  | { op: 'presence'; id?: number; room: string }
  /** `limit` absent: the operation's default (operations.ts). */
  | { op: 'history'; id?: number; room: string; limit?: number; since?: number }
  | { op: 'ping'; id?: number }
  | { op: 'ai'; id?: number; task: string; input: unknown }
  | { op: 'ai_cancel'; id?: number };

export type Op = Command['op'];

export const ops: readonly Op[] = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'history', 'ping', 'ai', 'ai_cancel'];

export interface ParseLimits {
  maxRoomNameLength: number;
  /** Largest `limit` a history command may ask for. */
  maxHistoryLimit: number;
}

export type ParseResult = { ok: true; command: Command } | { ok: false; id?: number; error: GatewayError };

const maxTokenLength = 16_384;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireInt(frame: Record<string, unknown>, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = frame[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw gatewayError('BAD_REQUEST', `${field} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function requireString(frame: Record<string, unknown>, field: string, maxLength: number): string {
  const value = frame[field];
  if (typeof value !== 'string' || value.length === 0) throw gatewayError('BAD_REQUEST', `${field} must be a non-empty string`);
  if (value.length > maxLength) throw gatewayError('BAD_REQUEST', `${field} must be at most ${maxLength} characters`);
  return value;
}

function parseRecover(value: unknown): RecoverPosition | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw gatewayError('BAD_REQUEST', 'recover must be an object {epoch, offset}');
  const epoch = value.epoch;
  if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > 64) {
    throw gatewayError('BAD_REQUEST', 'recover.epoch must be a string of 1..64 characters');
  }
  const offset = value.offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw gatewayError('BAD_REQUEST', 'recover.offset must be an integer ≥ 0');
  }
  return { epoch, offset };
}

/** Parses one text frame. `text` is whatever arrived; binary frames are refused by the caller. */
export function parseFrame(text: string, limits: ParseLimits): ParseResult {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    // The parser's message may quote the input (message bodies are never echoed or logged).
    return { ok: false, error: gatewayError('BAD_REQUEST', 'frame is not valid JSON') };
  }
  if (!isObject(frame)) return { ok: false, error: gatewayError('BAD_REQUEST', 'frame must be a JSON object') };
  let id: number | undefined;
  if (frame.id !== undefined) {
    if (typeof frame.id !== 'number' || !Number.isSafeInteger(frame.id) || frame.id < 0) {
      return { ok: false, error: gatewayError('BAD_REQUEST', 'id must be an integer ≥ 0') };
    }
    id = frame.id;
  }
  try {
    return { ok: true, command: parseCommand(frame, id, limits) };
  } catch (error) {
    if (error instanceof GatewayError) return { ok: false, id, error };
    return { ok: false, id, error: gatewayError('BAD_REQUEST', 'frame could not be parsed', error) };
  }
}

function parseCommand(frame: Record<string, unknown>, id: number | undefined, limits: ParseLimits): Command {
  const op = frame.op;
  if (typeof op !== 'string') throw gatewayError('BAD_REQUEST', 'op must be a string');
  const room = () => validateRoom(frame.room, limits.maxRoomNameLength);
  switch (op) {
    case 'connect':
      // A missing or mistyped token is an authentication failure (4001), not a protocol one.
      return { op, id, token: typeof frame.token === 'string' && frame.token.length <= maxTokenLength ? frame.token : '' };
    case 'subscribe':
      return { op, id, room: room(), recover: parseRecover(frame.recover) };
    case 'unsubscribe':
      return { op, id, room: room() };
    case 'publish':
      return { op, id, ...parsePublish(frame, limits.maxRoomNameLength) };
    case 'presence':
      return { op, id, room: room() };
    case 'history': {
      const target = room();
      const limit = frame.limit === undefined ? undefined : requireInt(frame, 'limit', 1, limits.maxHistoryLimit);
      const since = frame.since === undefined ? undefined : requireInt(frame, 'since', 0);
      return { op, id, room: target, limit, since };
    }
    case 'ping':
      return { op, id };
    case 'ai':
      return { op, id, task: requireString(frame, 'task', 64), input: frame.input };
    case 'ai_cancel':
      if (id === undefined) throw gatewayError('BAD_REQUEST', 'id is required: it names the ai request to cancel');
      return { op, id };
    default:
      throw gatewayError('BAD_REQUEST', `unknown op ${JSON.stringify(op.slice(0, 32))}; expected one of ${ops.join(', ')}`);
  }
}

/**
 * The fields of a publish — `room`, `data` (any JSON value), optional `mid` — from a WebSocket
 * frame or a server API body alike, so both refuse the same input with the same message.
 */
export function parsePublish(fields: Record<string, unknown>, maxRoomNameLength: number): { room: string; data: unknown; mid?: string } {
  const room = validateRoom(fields.room, maxRoomNameLength);
  if (fields.data === undefined) throw gatewayError('BAD_REQUEST', 'data is required (any JSON value)');
  const mid = fields.mid === undefined ? undefined : requireString(fields, 'mid', maxMidLength);
  return { room, data: fields.data, mid };
}
