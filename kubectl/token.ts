/**
 * `kubectl meridian token`: a client token for testing a deployment, signed HS256 with the
 * cluster's own secret (the Secret key `spec.gateway.auth.jwtSecretRef` names, in the cluster's
 * namespace), exactly as the gateways verify it. The secret is read through the hub's API with
 * the caller's identity, so whoever may not read that Secret cannot mint tokens, and is told so.
 */
import { decodeJwt } from 'jose';
import { maxUserLength, signDevToken } from '../gateway/auth.ts';
import { isValidPattern } from '../gateway/rooms.ts';
import { PluginError } from './errors.ts';
import type { Hub } from './kube.ts';

/** Default lifetime of a minted token. */
export const DEFAULT_TTL_SECONDS = 3600;
/** Longest lifetime a minted token may have: these tokens are for testing, not for handing out. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** Go's duration spelling, as kubectl's --duration flags take it: 90s, 15m, 1h, 1h30m. */
export function parseTtl(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const seconds = match && text !== '' ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0) : NaN;
  if (!(seconds > 0)) throw new PluginError('USAGE', `--ttl must be a duration such as 90s, 15m, 1h or 1h30m, got '${text}'`);
  if (seconds > MAX_TTL_SECONDS) throw new PluginError('USAGE', `--ttl must be at most ${MAX_TTL_SECONDS / 3600}h, got '${text}'`);
  return seconds;
}

export function parseRooms(text: string): string[] {
  const rooms = text.split(',').map((room) => room.trim()).filter(Boolean);
  if (rooms.length === 0) throw new PluginError('USAGE', "--rooms needs at least one room pattern, such as 'math-*' or 'math-101,physics-*'");
  const bad = rooms.filter((room) => !isValidPattern(room));
  if (bad.length > 0) throw new PluginError('USAGE', `--rooms: not a room pattern: ${bad.map((b) => `'${b}'`).join(', ')} (letters, digits, _ . : @ - and an optional trailing *)`);
  return rooms;
}

export interface TokenRequest {
  cluster: string;
  sub: string;
  rooms: string[];
  ttlSeconds: number;
  name?: string;
}

export interface MintedToken {
  token: string;
  sub: string;
  rooms: string[];
  expiresAt: string;
}

export async function mintToken(hub: Hub, request: TokenRequest): Promise<MintedToken> {
  if (request.sub.length === 0 || request.sub.length > maxUserLength) throw new PluginError('USAGE', `--sub must be 1 to ${maxUserLength} characters`);
  const cluster = await hub.getCluster(request.cluster);
  const ref = cluster.spec.gateway.auth.jwtSecretRef;
  if (!ref) {
    throw new PluginError('NO_SHARED_SECRET', `RealtimeCluster ${hub.namespace}/${request.cluster} verifies client tokens through ${cluster.spec.gateway.auth.jwksUrl ?? 'a JWKS URL'}; mint tokens with the issuer that holds those keys`);
  }
  const hint = `kubectl meridian token reads the cluster's signing secret: it needs get on secrets "${ref.name}" in namespace ${hub.namespace} (spec.gateway.auth.jwtSecretRef). Ask for that permission, or ask someone who has it for a token.`;
  const secret = await hub.readSecretKey(ref.name, ref.key, hint);
  if (!secret) throw new PluginError('NOT_FOUND', `Secret ${hub.namespace}/${ref.name} has no key '${ref.key}' (spec.gateway.auth.jwtSecretRef)`);
  const token = await signDevToken(secret, { sub: request.sub, rooms: request.rooms, ttlSec: request.ttlSeconds, ...(request.name ? { name: request.name } : {}) });
  const expiresAt = new Date((decodeJwt(token).exp ?? 0) * 1000).toISOString();
  return { token, sub: request.sub, rooms: request.rooms, expiresAt };
}
