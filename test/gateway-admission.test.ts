/**
 * Admission on the public port: sockets that never send `connect` are capped node-wide and per
 * address and never keep a real user out; HTTP pipelining is capped per socket and in progress,
 * with probes still answered; /metrics lives only on the metrics listener.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { spawnGateway, startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

interface UpgradeRefusal {
  status: number;
  retryAfter: string | undefined;
  body: { error?: { code?: string; message?: string } };
}

/** Opens a WebSocket from `localAddress`, expecting the upgrade to be refused; resolves with the refusal. */
function refusedUpgrade(url: string, localAddress: string): Promise<UpgradeRefusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`upgrade from ${localAddress} was accepted`));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text) });
        ws.terminate();
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('sockets that never send connect', () => {
  let gw: TestGateway;
  const open: TestClient[] = [];
  const anonymous = (localAddress: string) => TestClient.open(gw.wsUrl, { localAddress }).then((c) => (open.push(c), c));

  before(async () => {
    // A long connect deadline: the sockets below stay anonymous for the whole scenario.
    gw = await startGateway({ limits: { maxAnonymousSockets: 12, maxAnonymousSocketsPerAddress: 5, maxConnections: 3, connectTimeoutMs: 120_000 } });
  });
  after(async () => {
    for (const client of open) client.ws.terminate();
    await gw.close();
  });

  it('one address is refused with HTTP 429 past limits.maxAnonymousSocketsPerAddress, while a user from another address connects', async () => {
    const held = await Promise.all(Array.from({ length: 5 }, () => anonymous('127.0.0.1')));
    const refused = await refusedUpgrade(gw.wsUrl, '127.0.0.1');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error?.code, 'LIMIT_EXCEEDED');
    assert.equal(refused.retryAfter, '120', 'Retry-After is the connect deadline, by which every waiting socket is gone');

    const user = await anonymous('127.0.0.2');
    const reply = await user.request({ op: 'connect', token: await gw.token('real-user') });
    assert.equal(reply.op, 'connected');
    assert.equal((await user.request({ op: 'ping' })).op, 'pong');

    // A held socket that closes frees its address's slot.
    await held[0].close();
    await waitFor(async () => (await TestClient.open(gw.wsUrl, { localAddress: '127.0.0.1' }).then((c) => (open.push(c), true)).catch(() => false)), { what: 'a free slot for 127.0.0.1' });
    await assert.rejects(TestClient.open(gw.wsUrl, { localAddress: '127.0.0.1' }), /HTTP 429/);
    await user.close();
  });

  it('the node refuses with HTTP 503 past limits.maxAnonymousSockets; connected users never count against it, nor it against limits.maxConnections', async () => {
    // 5 from 127.0.0.1 are held by the scenario above; fill the node-wide cap of 12 from two more addresses.
    await waitFor(() => gw.gateway.connections.size === 5, { what: 'five anonymous sockets held' });
    const waiting = [...(await Promise.all(Array.from({ length: 5 }, () => anonymous('127.0.0.3')))), ...(await Promise.all([anonymous('127.0.0.4'), anonymous('127.0.0.4')]))];
    const refused = await refusedUpgrade(gw.wsUrl, '127.0.0.5');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error?.code, 'OVERLOADED');
    assert.ok(refused.retryAfter);

    // Sockets already open are real users as soon as they connect: maxConnections (3) counts
    // only those, so 12 anonymous sockets take nothing from them.
    const users = waiting.slice(0, 3);
    for (const [i, client] of users.entries()) assert.equal((await client.request({ op: 'connect', token: await gw.token(`user-${i}`) })).op, 'connected');
    const fourth = waiting[3];
    fourth.send({ op: 'connect', token: await gw.token('user-3') });
    assert.equal((await fourth.closed).code, 4009, 'limits.maxConnections is reached by connected users only');

    // 5 from 127.0.0.1 and the 3 of `waiting` that never sent connect; the refused one's close is processed first.
    const metrics = await waitFor(async () => {
      const text = await (await fetch(gw.metricsUrl)).text();
      return metricValue(text, 'meridian_anonymous_sockets') === 5 + 3 ? text : undefined;
    }, { what: 'meridian_anonymous_sockets to count the sockets still waiting' });
    assert.ok(metricValue(metrics, 'meridian_refusals_total{reason="anonymous_sockets"}') >= 1);
    assert.ok(metricValue(metrics, 'meridian_refusals_total{reason="anonymous_sockets_per_address"}') >= 1);
    for (const client of users) assert.equal((await client.request({ op: 'ping' })).op, 'pong');
  });
});

/** Writes `text` on a raw connection and collects every byte until the server closes it. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let reply = '';
    socket.setEncoding('latin1');
    socket.setTimeout(20_000, () => socket.destroy(new Error('the server kept the connection open')));
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('end', () => resolve(reply));
    socket.on('error', reject);
  });
}

describe('HTTP on the public port', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ limits: { httpMaxRequestsPerSocket: 5, httpMaxConcurrentRequests: 4 } });
  });
  after(async () => {
    await gw.close();
  });

  it('pipelined requests past limits.httpMaxRequestsPerSocket are not served and the connection closes', async () => {
    // Probes: the concurrency cap (which counts a pipelined request until its reply is written) does not apply.
    const reply = await rawExchange(gw.port, 'GET /healthz HTTP/1.1\r\nHost: flood\r\n\r\n'.repeat(50));
    // Replies follow each other's bodies directly: match status lines anywhere.
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 200, 200, 200, 200], 'exactly the cap is served; rawExchange resolved on the server closing the connection');
    const replies = reply.split(/(?=HTTP\/1\.1 )/);
    assert.match(replies[4], /^connection: close/im, 'the last served reply announces the close');
    assert.doesNotMatch(replies.slice(0, 4).join(''), /^connection: close/im);
    assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200, 'a bystander health check answers');
  });

  it('a flood of pipelining sockets leaves a bystander’s health check answered', async () => {
    const flood = Array.from({ length: 20 }, () => rawExchange(gw.port, 'GET /v1/nowhere HTTP/1.1\r\nHost: flood\r\n\r\n'.repeat(200)));
    const health = await fetch(`${gw.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    const replies = await Promise.all(flood);
    for (const reply of replies) {
      const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      assert.ok(statuses.length > 0 && statuses.length <= 5, `at most httpMaxRequestsPerSocket answered per socket: ${statuses.length}`);
      assert.ok(statuses.every((s) => s === 404 || s === 503), `served (404) or over the concurrency cap (503): ${statuses.join(',')}`);
    }
  });

  it('requests past limits.httpMaxConcurrentRequests answer 503 OVERLOADED with Retry-After; probes still answer', async () => {
    // Publishes whose bodies never finish arriving stay in progress.
    const held = Array.from({ length: 4 }, () => connect(gw.port, '127.0.0.1'));
    await Promise.all(held.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    for (const socket of held) socket.write(`POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-api-key\r\nContent-Length: 100\r\n\r\n{"room":`);
    const refused = await waitFor(async () => {
      const res = await fetch(`${gw.httpUrl}/loadz`);
      return res.status === 503 ? res : (await res.body?.cancel(), undefined);
    }, { what: 'the concurrency cap to be reached' });
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'OVERLOADED');
    assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.httpUrl}/readyz`)).status, 200);
    for (const socket of held) socket.destroy();
    await waitFor(async () => (await fetch(`${gw.httpUrl}/loadz`)).status === 200, { what: 'slots freed when the held requests end' });
  });

  it('/metrics is served on the metrics listener only', async () => {
    const publicMetrics = await gw.apiJson('/metrics', { apiKey: null });
    assert.equal(publicMetrics.status, 404);
    assert.equal(publicMetrics.body.error.code, 'NOT_FOUND');
    assert.equal(gw.config.metrics.host, '127.0.0.1', 'loopback by default');
    assert.notEqual(gw.gateway.metricsPort, gw.port);
    const scrape = await fetch(gw.metricsUrl);
    assert.equal(scrape.status, 200);
    assert.match(await scrape.text(), /^meridian_connections \d+$/m);
    assert.equal((await fetch(`http://127.0.0.1:${gw.gateway.metricsPort}/healthz`)).status, 404, 'the metrics listener serves nothing else');
  });

  it('a gateway process whose metrics port is taken exits 1 naming metrics.port', async () => {
    const first = await spawnGateway({});
    try {
      const metricsPort = Number(new URL(first.metricsUrl).port);
      assert.equal((await fetch(first.metricsUrl)).status, 200);
      const second = await spawnGateway({ metrics: { port: metricsPort } }, { waitHealthy: false });
      const exit = await second.exited;
      assert.equal(exit.code, 1);
      assert.match(second.output().stderr, /metrics\.port.*EADDRINUSE/);
    } finally {
      first.signal('SIGTERM');
      await first.exited;
      await first.stop();
    }
  });
});
