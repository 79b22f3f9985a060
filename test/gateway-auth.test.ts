/**
 * Token verification with keys from a JWKS URL (RS256 and ES256), served by a local HTTP
 * server, plus issuer/audience checks and room patterns.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { RoomAccess } from '../gateway/rooms.ts';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';

interface Signer {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
}

async function sign(signer: Signer, claims: Record<string, unknown>, { sub = 'jwks-user', iss = 'https://auth.test/', aud = 'meridian' } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid })
    .setSubject(sub)
    .setIssuer(iss)
    .setAudience(aud)
    .setExpirationTime('10m')
    .sign(signer.privateKey);
}

describe('gateway auth with a JWKS URL', () => {
  let jwks: Server;
  let gw: TestGateway;
  const signers: Signer[] = [];
  let stranger: Signer;

  before(async () => {
    const keys: Record<string, unknown>[] = [];
    for (const [kid, alg] of [['rsa-1', 'RS256'], ['ec-1', 'ES256']] as const) {
      const { publicKey, privateKey } = await generateKeyPair(alg);
      signers.push({ kid, alg, privateKey });
      keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    }
    stranger = { kid: 'rsa-1', alg: 'RS256', privateKey: (await generateKeyPair('RS256')).privateKey };
    jwks = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    gw = await startGateway({ jwt: { secret: undefined, jwksUrl: url, issuer: 'https://auth.test/', audience: 'meridian' } });
  });
  after(async () => {
    await gw.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  it('accepts RS256 and ES256 tokens signed by keys in the JWKS', async () => {
    for (const signer of signers) {
      const client = await TestClient.open(gw.wsUrl);
      const reply = await client.request({ op: 'connect', token: await sign(signer, { rooms: ['math-*'], name: 'Jo' }) });
      assert.equal(reply.op, 'connected', `${signer.alg}: ${JSON.stringify(reply)}`);
      assert.equal(reply.user, 'jwks-user');
      assert.equal((await client.request({ op: 'subscribe', room: 'math-1' })).op, 'subscribed');
      assert.equal((await client.request({ op: 'subscribe', room: 'art-1' })).code, 'FORBIDDEN');
      await client.close();
    }
  });

  it('refuses a key not in the JWKS, a wrong issuer or audience, and HS256 tokens (4001)', async () => {
    const bad = [
      await sign(stranger, { rooms: ['*'] }),
      await sign(signers[0], { rooms: ['*'] }, { iss: 'https://evil.test/' }),
      await sign(signers[1], { rooms: ['*'] }, { aud: 'someone-else' }),
      await new SignJWT({ rooms: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime('5m').sign(new TextEncoder().encode('guessable-secret-guessable-secret!')),
    ];
    for (const token of bad) {
      const client = await TestClient.open(gw.wsUrl);
      const reply = await client.request({ op: 'connect', token });
      assert.equal(reply.code, 'UNAUTHORIZED');
      assert.equal((await client.closed).code, 4001);
    }
  });

  it('refuses tokens whose rooms claim is not a list of patterns', async () => {
    const client = await TestClient.open(gw.wsUrl);
    const reply = await client.request({ op: 'connect', token: await sign(signers[0], { rooms: 'math-*' }) });
    assert.match(reply.message, /rooms must be a list/);
    assert.equal((await client.closed).code, 4001);
  });
});

describe('room access patterns', () => {
  it('grants exact names, prefixes, everything with *, and always the personal room', () => {
    const access = new RoomAccess('u1', ['lobby', 'math-*']);
    assert.equal(access.allows('lobby'), true);
    assert.equal(access.allows('lobby-2'), false);
    assert.equal(access.allows('math-101'), true);
    assert.equal(access.allows('math'), false);
    assert.equal(access.allows('user:u1'), true);
    assert.equal(access.allows('user:u2'), false);
    assert.equal(new RoomAccess('admin', ['*']).allows('anything:at-all'), true);
    assert.equal(new RoomAccess('u3', []).allows('lobby'), false);
  });
});

describe('token expiry on a live connection', () => {
  it('closes the connection with 4001 when the token’s exp passes', async () => {
    const gw = await startGateway({ jwt: { clockToleranceSec: 0 } });
    try {
      const client = await TestClient.open(gw.wsUrl);
      const reply = await client.request({ op: 'connect', token: await gw.token('brief', { expiresInSec: 3 }) });
      assert.equal(reply.op, 'connected');
      const { code, reason } = await client.closed;
      assert.equal(code, 4001);
      assert.match(reason, /token expired/);
    } finally {
      await gw.close();
    }
  });
});
