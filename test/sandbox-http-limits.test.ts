/**
 * The emulator's HTTP edge: an oversized body gets a 413 Status the client can read (not a
 * reset connection), a path with broken percent-encoding is a 400 rather than an internal
 * error, and a wrong token of any length is refused.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startSandbox, type Sandbox } from './helpers/apiserver.ts';
import { rawStatusLine, waitFor } from './helpers/net.ts';

/** A raw HTTP exchange with node:http, so a reset shows up as an error, not a retry. */
function send(url: string, options: { method: string; path: string; token: string; body?: string; chunked?: boolean }): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${options.path}`, {
      method: options.method,
      headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', ...(options.chunked ? { 'transfer-encoding': 'chunked' } : {}) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunked && options.body) {
      // No Content-Length: the cap must hold while the bytes arrive.
      for (let at = 0; at < options.body.length; at += 1024) req.write(options.body.slice(at, at + 1024));
      req.end();
    } else req.end(options.body);
  });
}


describe('sandbox apiserver HTTP limits', () => {
  let sandbox: Sandbox;
  let token: string;
  before(async () => {
    sandbox = await startSandbox({ maxBodyBytes: 2048 });
    token = sandbox.kc.getCurrentUser()?.token ?? '';
  });
  after(() => sandbox.close());

  it('answers a body over maxBodyBytes with a readable 413 Status', async () => {
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { blob: 'x'.repeat(32 * 1024) } };
    for (const chunked of [false, true]) {
      const reply = await send(sandbox.server.url, { method: 'POST', path: '/api/v1/namespaces/default/configmaps', token, body: JSON.stringify(configMap), chunked });
      assert.equal(reply.status, 413, `chunked: ${chunked}`);
      assert.equal(reply.body.reason, 'RequestEntityTooLarge');
    }
    // The server is still serving, and nothing was stored.
    const read = await sandbox.raw('GET', '/api/v1/namespaces/default/configmaps/big');
    assert.equal(read.status, 404);
  });

  it('refuses a path with broken percent-encoding as a bad request', async () => {
    const reply = await send(sandbox.server.url, { method: 'GET', path: '/api/v1/namespaces/%E0%A4%A/configmaps', token });
    assert.equal(reply.status, 400);
    assert.equal(reply.body.reason, 'BadRequest');
  });

  it('answers an unparseable request target (GET //[) with 400 and keeps serving', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const line = await rawStatusLine(sandbox.server.port, `GET //[ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
      assert.match(line, /^HTTP\/1\.1 400 /);
      assert.match(await rawStatusLine(sandbox.server.port, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 401 /);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(rejections, []);
    assert.equal((await sandbox.raw('GET', '/api/v1/namespaces')).status, 200);
  });

  it('refuses a wrong token, a token prefix and a token with extra bytes', async () => {
    for (const wrong of ['nope', token.slice(0, -1), `${token}x`, '']) {
      const reply = await send(sandbox.server.url, { method: 'GET', path: '/api/v1/namespaces', token: wrong });
      assert.equal(reply.status, 401);
    }
    assert.equal((await send(sandbox.server.url, { method: 'GET', path: '/api/v1/namespaces', token })).status, 200);
  });

  it('counts requests by method after many requests', async () => {
    const before = sandbox.server.requestCount({ method: 'GET' });
    const writesBefore = sandbox.server.requestCount({ writesOnly: true });
    const postWritesBefore = sandbox.server.requestCount({ method: 'POST', writesOnly: true });
    for (let i = 0; i < 20; i += 1) await sandbox.raw('GET', '/api/v1/namespaces/default');
    await sandbox.raw('POST', '/api/v1/namespaces/default/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'counted' } } });
    assert.equal(sandbox.server.requestCount({ method: 'GET' }) - before, 20);
    assert.equal(sandbox.server.requestCount({ method: 'get' }) - before, 20);
    assert.equal(sandbox.server.requestCount({ writesOnly: true }) - writesBefore, 1);
    assert.equal(sandbox.server.requestCount({ method: 'POST', writesOnly: true }) - postWritesBefore, 1);
  });
});

describe('sandbox apiserver watch buffer cap', () => {
  it('ends a watch whose initial list passes maxWatchBufferedBytes without an internal error', async () => {
    const errors: string[] = [];
    // Error lines only, collected as written.
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const sandbox = await startSandbox({ maxWatchBufferedBytes: 4096, logger });
    try {
      for (let i = 0; i < 8; i += 1) {
        const created = await sandbox.raw('POST', '/api/v1/namespaces/default/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { blob: 'y'.repeat(2048) } } });
        assert.equal(created.status, 201);
      }
      const token = sandbox.kc.getCurrentUser()?.token ?? '';
      // The whole initial list is written in one turn, before the client can read any of it.
      let received = '';
      const ended = await new Promise<string>((resolve) => {
        const req = request(`${sandbox.server.url}/api/v1/namespaces/default/configmaps?watch=true`, { headers: { authorization: `Bearer ${token}` } });
        req.on('response', (res) => {
          res.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
          res.on('end', () => resolve('end'));
          res.on('error', () => resolve('reset'));
          res.on('close', () => resolve('closed'));
        });
        req.on('error', () => resolve('reset'));
        req.end();
      });
      assert.notEqual(ended, 'end', 'the watch is cut, not ended as if complete');
      const added = received.split('\n').filter((line) => line.startsWith('{"type":"ADDED"')).length;
      assert.ok(added < 8, `the stream stopped before the whole list (${added} of 8 ADDED)`);
      assert.deepEqual(errors, []);
      assert.equal((await sandbox.raw('GET', '/api/v1/namespaces/default/configmaps')).status, 200);
    } finally {
      await sandbox.close();
    }
  });
});

describe('sandbox apiserver watch count cap', () => {
  it('refuses a watch past maxWatches with 429 and accepts one again after a watch ends', async () => {
    const sandbox = await startSandbox({ maxWatches: 2 });
    const token = sandbox.kc.getCurrentUser()?.token ?? '';
    const path = '/api/v1/namespaces/default/configmaps?watch=true';
    const open: AbortController[] = [];
    const openWatch = async () => {
      const abort = new AbortController();
      const response = await fetch(`${sandbox.server.url}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
      open.push(abort);
      return response;
    };
    try {
      assert.equal((await openWatch()).status, 200);
      assert.equal((await openWatch()).status, 200);
      const refused = await openWatch();
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(((await refused.json()) as { reason: string }).reason, 'TooManyRequests');
      open[0].abort();
      // The aborted watch leaves the set when its socket closes on the server.
      await waitFor(
        async () => {
          const response = await openWatch();
          if (response.status === 200) return response;
          await response.body?.cancel();
          return undefined;
        },
        { what: 'a watch accepted after one ended' },
      );
    } finally {
      for (const abort of open) abort.abort();
      await sandbox.close();
    }
  });
});

