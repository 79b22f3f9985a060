/**
 * Dev-mode routes sign tokens for anyone who asks, so they answer only peers on loopback: a dev
 * gateway started with `host` set to a public address must not hand tokens to other machines.
 * The peer address is rewritten on the real socket to stand for a remote client, since every
 * test connection comes from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { devRoutes, isLoopbackAddress } from '../gateway/dev-mode.ts';

describe('gateway dev routes', () => {
  let server: Server;
  let base: string;
  before(async () => {
    const routes = devRoutes('dev-routes-test-secret-long-enough-for-hs256');
    server = createServer((req, res) => {
      const peer = req.headers['x-test-peer'];
      if (typeof peer === 'string') Object.defineProperty(req.socket, 'remoteAddress', { value: peer, configurable: true });
      const url = new URL(req.url ?? '/', 'http://gateway');
      routes(req, res, url).then(
        (handled) => {
          if (!handled) res.writeHead(404).end('not found');
        },
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('signs a token for a client on loopback (IPv4, IPv6 and IPv4-mapped)', async () => {
    for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      const response = await fetch(`${base}/dev/token?user=alice`, { headers: { 'x-test-peer': peer } });
      assert.equal(response.status, 200, peer);
      assert.match(((await response.json()) as { token: string }).token, /^ey/);
    }
  });

  it('gives a remote client neither a token nor the demo page', async () => {
    for (const peer of ['203.0.113.7', '::ffff:10.0.0.5', '2001:db8::1']) {
      const token = await fetch(`${base}/dev/token?user=mallory`, { headers: { 'x-test-peer': peer } });
      assert.equal(token.status, 404, peer);
      assert.doesNotMatch(await token.text(), /token/);
      assert.equal((await fetch(`${base}/`, { headers: { 'x-test-peer': peer } })).status, 404, peer);
    }
  });

  it('treats only 127.0.0.0/8 and ::1 as loopback', () => {
    assert.equal(isLoopbackAddress('127.9.8.7'), true);
    assert.equal(isLoopbackAddress(undefined), false);
    assert.equal(isLoopbackAddress('::ffff:192.168.1.1'), false);
    assert.equal(isLoopbackAddress('1127.0.0.1'), false);
  });
});
