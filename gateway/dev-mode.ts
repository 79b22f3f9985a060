/**
 * Dev mode: when no JWT secret or JWKS URL is configured, the gateway makes a secret (and an
 * API key when none is set), prints a dev token, and serves the demo page at `/` plus
 * `GET /dev/token?user=NAME`, which signs a token for any user with rooms ["*"]. These routes
 * exist only in dev mode, and answer only peers on loopback (a dev gateway started with `host`
 * set to a public address must not sign tokens for other machines); a configured gateway has
 * no open endpoints.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { signDevToken } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import { sendJson } from './http-api.ts';

const demoPage = new URL('./demo.html', import.meta.url);
const userPattern = /^[A-Za-z0-9_.-]{1,32}$/;

export function needsDevMode(config: GatewayConfig): boolean {
  return !config.jwt.secret && !config.jwt.jwksUrl;
}

/** The config with a generated JWT secret (and API key when unset), frozen like the original. */
export function withDevSecrets(config: GatewayConfig): GatewayConfig {
  const secret = randomBytes(32).toString('base64url');
  const apiKey = config.apiKey ?? randomBytes(24).toString('base64url');
  return Object.freeze({ ...config, jwt: Object.freeze({ ...config.jwt, secret }), apiKey });
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack listener reports those). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

export function devRoutes(secret: string): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const page = readFileSync(demoPage);
  return async (req, res, url) => {
    // Other peers fall through to the built-in routes, where these paths are NOT_FOUND.
    if (req.method !== 'GET' || !isLoopbackAddress(req.socket.remoteAddress)) return false;
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cache-control': 'no-store' });
      res.end(page);
      return true;
    }
    if (url.pathname === '/dev/token') {
      const user = url.searchParams.get('user') ?? '';
      if (!userPattern.test(user)) {
        sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'user must be 1..32 of letters, digits, _ . -' } });
        return true;
      }
      const token = await signDevToken(secret, { sub: user, name: user, rooms: ['*'], ttlSec: 12 * 3600 });
      sendJson(res, 200, { token });
      return true;
    }
    return false;
  };
}
