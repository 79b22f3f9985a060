/** HS256 tokens for benchmark clients, as the gateway expects them (DESIGN §3). */
import { SignJWT } from 'jose';

export interface TokenOptions {
  secret: string;
  user: string;
  /** Room patterns the user may subscribe to and publish in. */
  rooms?: string[];
  /** Token lifetime; longer than any benchmark. */
  ttlSeconds?: number;
}

const DEFAULT_TTL_SECONDS = 3600;

export function mintToken({ secret, user, rooms = ['*'], ttlSeconds = DEFAULT_TTL_SECONDS }: TokenOptions): Promise<string> {
  return new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
