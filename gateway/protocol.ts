/**
 * Protocol v1 client frames: JSON text → typed commands, with BAD_REQUEST messages that name
 * the offending field. Any input (binary, invalid UTF-8, deep nesting, huge numbers) yields a
 * command or a GatewayError, never an exception of another kind.
 */
import { gatewayError, GatewayError } from './errors.ts';
import { maxMidLength } from './operations.ts';
import { validateRoom } from './rooms.ts';
import { isNotifyOp, notifyOps, type NotifyOp } from './notify/socket-ops.ts';

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
  | { op: 'ai_cancel'; id?: number }
  /** Notification ops (docs/notifications.md): fields are checked by the notification module. */
  | { op: NotifyOp; id?: number; fields: Record<string, unknown> };

export type Op = Command['op'];

export const ops: readonly Op[] = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'history', 'ping', 'ai', 'ai_cancel', ...notifyOps];

export interface ParseLimits {
  maxRoomNameLength: number;
  /** Largest `limit` a history command may ask for. */
  maxHistoryLimit: number;
  /** Deepest array/object nesting of a whole frame (`limits.maxJsonDepth`). */
  maxJsonDepth: number;
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

/**
 * True when `text` nests arrays/objects deeper than `maxDepth` (brackets inside strings do not
 * count). JSON.parse itself accepts any depth, but such a value cannot be encoded again
 * (JSON.stringify and Redis's cjson recurse): it would be stored, then break every delivery,
 * history read and recovery that covers it. Scanning the text refuses it before any parsing.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  if (text.length <= maxDepth) return false; // too short to open maxDepth + 1 brackets
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return false;
}

/** Parses client JSON (an HTTP body) within `maxDepth`, refusing deeper text unparsed; BAD_REQUEST naming `what` otherwise. */
export function parseJson(text: string, maxDepth: number, what: 'frame' | 'body'): unknown {
  if (nestsDeeperThan(text, maxDepth)) throw tooDeep(what, maxDepth);
  try {
    return JSON.parse(text);
  } catch {
    // The parser's message may quote the input (message bodies are never echoed or logged).
    throw gatewayError('BAD_REQUEST', `${what} is not valid JSON`);
  }
}

function tooDeep(what: 'frame' | 'body', maxDepth: number): GatewayError {
  return gatewayError('BAD_REQUEST', `${what} nests arrays/objects deeper than ${maxDepth} levels (limits.maxJsonDepth)`);
}

/**
 * Checks that publish `data` encodes back to JSON, so nothing reaches the engine that a
 * delivery, history read or recovery could not encode. Values parsed within the depth limit
 * always do; this guards every other way a value could get here.
 */
export function requireEncodable(data: unknown): void {
  let encoded: string | undefined;
  try {
    encoded = JSON.stringify(data);
  } catch {
    throw gatewayError('BAD_REQUEST', 'data cannot be encoded as JSON');
  }
  if (encoded === undefined) throw gatewayError('BAD_REQUEST', 'data is required (any JSON value)');
}

/** Parses one text frame. `text` is whatever arrived; binary frames are refused by the caller. */
export function parseFrame(text: string, limits: ParseLimits): ParseResult {
  let frame: unknown;
  try {
    // V8's JSON.parse is iterative: any depth parses (within maxMessageBytes). Only encoding
    // recurses, so the depth is checked before anything uses the value, after reading the id
    // that lets the client match the refusal.
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
  if (nestsDeeperThan(text, limits.maxJsonDepth)) return { ok: false, id, error: tooDeep('frame', limits.maxJsonDepth) };
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
      if (isNotifyOp(op)) return { op, id, fields: frame };
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
  requireEncodable(fields.data);
  const mid = fields.mid === undefined ? undefined : requireString(fields, 'mid', maxMidLength);
  return { room, data: fields.data, mid };
}
