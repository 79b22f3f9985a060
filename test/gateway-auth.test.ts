/**
 * Token verification with keys from a JWKS URL (RS256 and ES256), served by a local HTTP
 * server, plus issuer/audience checks and room patterns. A key server that hangs, fails or is
 * gone is the server's problem, not the token's: connect answers UNAVAILABLE and closes 1013.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { RoomAccess } from '../gateway/rooms.ts';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';
import { freePort } from './helpers/net.ts';

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

describe('gateway auth when the key server is out', () => {
  let jwks: Server;
  let jwksUrl: string;
  let gw: TestGateway;
  let signer: Signer;
  /** hang: take the request and never answer; fail: answer 500; serve: answer the key set. */
  let mode: 'hang' | 'fail' | 'serve' = 'hang';
  let requests = 0;

  before(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    signer = { kid: 'ec-out', alg: 'ES256', privateKey };
    const keys = [{ ...(await exportJWK(publicKey)), kid: 'ec-out', alg: 'ES256', use: 'sig' }];
    jwks = createServer((req, res) => {
      requests += 1;
      if (mode === 'hang') return; // the socket stays open, unanswered, until the test ends
      if (mode === 'fail') {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    gw = await startGateway({ jwt: { secret: undefined, jwksUrl, jwksTimeoutMs: 300, issuer: 'https://auth.test/', audience: 'meridian' } });
  });
  after(async () => {
    await gw.close();
    jwks.closeAllConnections();
    await new Promise((resolve) => jwks.close(resolve));
  });

  async function connect(url: string, token: string): Promise<{ reply: Record<string, unknown>; code: number }> {
    const client = await TestClient.open(url);
    const reply = await client.request({ op: 'connect', token });
    if (reply.op === 'connected') {
      await client.close();
      return { reply, code: 1000 };
    }
    return { reply, code: (await client.closed).code };
  }

  it('a hanging key server answers UNAVAILABLE and closes 1013; after it recovers the same token connects', async () => {
    const token = await sign(signer, { rooms: ['*'] });
    mode = 'hang';
    const during = await connect(gw.wsUrl, token);
    assert.equal(during.reply.code, 'UNAVAILABLE', JSON.stringify(during.reply));
    assert.equal(during.code, 1013);
    assert.ok(requests > 0, 'the key server was asked');
    // A token that is bad on its face is still the client's fault, keys or no keys.
    const malformed = await connect(gw.wsUrl, 'not.a.token');
    assert.equal(malformed.reply.code, 'UNAUTHORIZED');
    assert.equal(malformed.code, 4001);

    mode = 'fail';
    const failing = await connect(gw.wsUrl, token);
    assert.equal(failing.reply.code, 'UNAVAILABLE', JSON.stringify(failing.reply));
    assert.equal(failing.code, 1013);

    mode = 'serve';
    const recovered = await connect(gw.wsUrl, token);
    assert.equal(recovered.reply.op, 'connected', JSON.stringify(recovered.reply));
    assert.equal(recovered.reply.user, 'jwks-user');
    // With keys at hand, a token signed by another key is refused as before.
    const stranger = await sign({ ...signer, privateKey: (await generateKeyPair('ES256')).privateKey }, { rooms: ['*'] });
    const refused = await connect(gw.wsUrl, stranger);
    assert.equal(refused.reply.code, 'UNAUTHORIZED');
    assert.equal(refused.code, 4001);
  });

  it('a key server nobody listens on answers UNAVAILABLE and closes 1013', async () => {
    const nowhere = await startGateway({ jwt: { secret: undefined, jwksUrl: `http://127.0.0.1:${await freePort()}/jwks.json`, jwksTimeoutMs: 300 } });
    try {
      const refused = await connect(nowhere.wsUrl, await sign(signer, { rooms: ['*'] }));
      assert.equal(refused.reply.code, 'UNAVAILABLE', JSON.stringify(refused.reply));
      assert.equal(refused.code, 1013);
    } finally {
      await nowhere.close();
    }
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
