/**
 * Client token verification (jose): HS256 with a shared secret, or RS256/ES256 with keys from
 * a JWKS URL. A token names the user (`sub`), expires (`exp`, required), may carry a display
 * `name`, and lists the room patterns the user may use (`rooms`).
 *
 * A key server (JWKS) that does not answer within `jwt.jwksTimeoutMs`, or fails, is not the
 * token's fault: `verify` then rejects with an UNAVAILABLE GatewayError, never a TokenError.
 */
import { createRemoteJWKSet, jwtVerify, SignJWT, type CryptoKey, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { gatewayError, GatewayError } from './errors.ts';
import { isValidPattern, RoomAccess } from './rooms.ts';

export interface Identity {
  user: string;
  name?: string;
  access: RoomAccess;
  /** Seconds since the Unix epoch. */
  expiresAt: number;
}

export interface AuthOptions {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Longest wait for the JWKS; jose's default (5 s) when absent. */
  jwksTimeoutMs?: number;
  clockToleranceSec: number;
}

/** Why a token was refused; the message is safe to show the client (it never echoes the token). */
export class TokenError extends Error {
  readonly code = 'UNAUTHORIZED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenError';
  }
}

/** Longest `sub` a token may carry (the gateway refuses longer ones; token minting checks it too). */
export const maxUserLength = 128;

export interface TokenVerifier {
  verify(token: unknown): Promise<Identity>;
}

export function createTokenVerifier(options: AuthOptions): TokenVerifier {
  let key: Promise<CryptoKey> | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.secret) {
    // Imported once: a raw secret would be imported again on every verify (connect storms).
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    algorithms = ['HS256'];
  } else if (options.jwksUrl) {
    key = remoteKeys(options.jwksUrl, options.jwksTimeoutMs);
    algorithms = ['RS256', 'ES256'];
  } else {
    throw new Error('auth: a JWT secret or a JWKS URL is required');
  }
  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: options.clockToleranceSec,
    requiredClaims: ['sub', 'exp'],
  };
  return {
    async verify(token: unknown): Promise<Identity> {
      if (typeof token !== 'string' || token.length === 0) throw new TokenError('token is missing');
      let payload: JWTPayload;
      try {
        ({ payload } = typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, await key, verifyOptions));
      } catch (error) {
        if (error instanceof GatewayError) throw error; // keys unavailable (remoteKeys)
        const code = (error as { code?: string }).code;
        if (code === 'ERR_JWT_EXPIRED') throw new TokenError('token expired', { cause: error });
        throw new TokenError(`token invalid (${code ?? 'malformed'})`, { cause: error });
      }
      return identityFrom(payload);
    },
  };
}

// Key lookup failures that are the token's doing: it names a key the set lacks (or several).
// Anything else thrown while getting keys (timeout, refused connection, a non-200 answer, a
// malformed key set) means the key server is down or broken.
const tokenKeyErrors: ReadonlySet<string> = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_NOT_SUPPORTED']);

function remoteKeys(jwksUrl: string, timeoutMs: number | undefined): JWTVerifyGetKey {
  const jwks = createRemoteJWKSet(new URL(jwksUrl), timeoutMs === undefined ? undefined : { timeoutDuration: timeoutMs });
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (error) {
      if (tokenKeyErrors.has((error as { code?: string }).code ?? '')) throw error;
      throw gatewayError('UNAVAILABLE', 'token keys unavailable; retry later', error);
    }
  };
}

function identityFrom(payload: JWTPayload): Identity {
  const user = payload.sub;
  if (typeof user !== 'string' || user.length === 0 || user.length > maxUserLength) {
    throw new TokenError(`token sub must be a string of 1..${maxUserLength} characters`);
  }
  const rooms = payload.rooms ?? [];
  if (!Array.isArray(rooms) || !rooms.every((r) => typeof r === 'string' && isValidPattern(r))) {
    throw new TokenError('token rooms must be a list of room patterns such as "math-*" or "*"');
  }
  const name = typeof payload.name === 'string' ? payload.name.slice(0, 128) : undefined;
  return { user, name, access: new RoomAccess(user, rooms as string[]), expiresAt: payload.exp! };
}

/** Signs an HS256 client token; used by dev mode, `kubectl meridian token` and tests. */
export async function signDevToken(secret: string, claims: { sub: string; rooms: string[]; name?: string; ttlSec?: number }): Promise<string> {
  const jwt = new SignJWT({ rooms: claims.rooms, ...(claims.name ? { name: claims.name } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.ttlSec ?? 24 * 3600));
  return jwt.sign(new TextEncoder().encode(secret));
}
