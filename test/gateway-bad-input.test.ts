/**
 * Bad input: each case gets its documented error or close code (docs/protocol.md), the
 * gateway stays up, and a bystander client in another room keeps chatting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:net';
import { signToken, startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

describe('gateway bad input', () => {
  let gw: TestGateway;
  let bystander: TestClient;
  let bystanderSent = 0;

  before(async () => {
    gw = await startGateway({
      limits: {
        maxMessageBytes: 4096,
        publishRatePerSec: 1,
        publishBurst: 3,
        violationsBeforeClose: 5,
        violationWindowMs: 60_000,
        connectTimeoutMs: 300,
        roomsPerConnection: 128,
        maxJsonDepth: 8,
        httpMaxRequestsPerSocket: 10,
        // Subscribe churn and room creation have their own scenarios (gateway-bad-input-amplification).
        subscribeBurst: 10_000,
        roomsPerUserPerMinute: 10_000,
      },
    });
    bystander = await gw.client('bystander');
    await bystander.request({ op: 'subscribe', room: 'quiet' });
  });
  after(async () => {
    await gw.close();
  });

  /** The gateway answers HTTP and the bystander still receives its own publication. */
  async function assertGatewayHealthy(): Promise<void> {
    const health = await fetch(`${gw.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    // The bystander's bucket refills at 1/s; the server API has no bucket.
    const text = `still here ${++bystanderSent}`;
    const res = await gw.api('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'quiet', data: text }) });
    assert.equal(res.status, 200);
    await bystander.waitFrame((f) => f.op === 'message' && f.data === text);
  }

  async function errorFor(client: TestClient, frame: unknown): Promise<Record<string, any>> {
    const before = client.frames.length;
    client.send(frame);
    await client.waitFrame((f) => f.op === 'error' && client.frames.indexOf(f) >= before);
    return client.frames.slice(before).find((f) => f.op === 'error')!;
  }

  it('malformed JSON answers BAD_REQUEST without an id', async () => {
    const client = await gw.client('mallory');
    const error = await errorFor(client, '{"op":"publish",');
    assert.equal(error.code, 'BAD_REQUEST');
    assert.equal(error.id, undefined);
    assert.match(error.message, /not valid JSON/);
    const notObject = await errorFor(client, '[1,2,3]');
    assert.equal(notObject.code, 'BAD_REQUEST');
    await client.close();
    await assertGatewayHealthy();
  });

  it('an unknown op answers BAD_REQUEST naming the op, with the id', async () => {
    const client = await gw.client('mallory');
    const reply = await client.request({ op: 'teleport', room: 'x' });
    assert.equal(reply.op, 'error');
    assert.equal(reply.code, 'BAD_REQUEST');
    assert.match(reply.message, /unknown op "teleport"/);
    await client.close();
    await assertGatewayHealthy();
  });

  it('missing or mistyped fields answer BAD_REQUEST naming the field', async () => {
    const client = await gw.client('mallory');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ op: 'subscribe' }, /room must be a string/],
      [{ op: 'subscribe', room: '' }, /room must not be empty/],
      [{ op: 'subscribe', room: 'bad room!' }, /room may only contain/],
      [{ op: 'subscribe', room: 'r', recover: { epoch: 'e', offset: -1 } }, /recover\.offset/],
      [{ op: 'subscribe', room: 'r', recover: 'yes' }, /recover must be an object/],
      [{ op: 'publish', room: 'r' }, /data is required/],
      [{ op: 'history', room: 'r', limit: 'x' }, /limit must be an integer/],
      [{ op: 'history', room: 'r', limit: 100_000 }, /limit must be an integer between 1 and 300/],
      [{ op: 42 }, /op must be a string/],
    ];
    // Each is a violation; stay under violationsBeforeClose by using a fresh client every 4.
    let current = client;
    for (const [index, [frame, message]] of cases.entries()) {
      if (index > 0 && index % 4 === 0) {
        await current.close();
        current = await gw.client('mallory');
      }
      const reply = await current.request(frame);
      assert.equal(reply.code, 'BAD_REQUEST', JSON.stringify(frame));
      assert.match(reply.message, message);
    }
    const badId = await errorFor(current, { id: 'seven', op: 'ping' });
    assert.equal(badId.code, 'BAD_REQUEST');
    assert.match(badId.message, /id must be an integer/);
    await current.close();
    await assertGatewayHealthy();
  });

  it('binary frames answer BAD_REQUEST', async () => {
    const client = await gw.client('mallory');
    const error = await errorFor(client, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.equal(error.code, 'BAD_REQUEST');
    assert.match(error.message, /binary frames are not supported/);
    await client.close();
    await assertGatewayHealthy();
  });

  it('a frame larger than limits.maxMessageBytes closes with 1009', async () => {
    const client = await gw.client('mallory');
    client.send({ op: 'publish', room: 'big', data: 'x'.repeat(5000) });
    const { code } = await client.closed;
    assert.equal(code, 1009);
    await assertGatewayHealthy();
  });

  it('invalid UTF-8 in a text frame closes with 1007', async () => {
    const client = await gw.client('mallory');
    client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    const { code } = await client.closed;
    assert.equal(code, 1007);
    await assertGatewayHealthy();
  });

  it('a publish flood gets RATE_LIMITED, then the connection closes with 4400', async () => {
    const client = await gw.client('flooder');
    for (let i = 0; i < 20; i += 1) client.send({ id: 100_000 + i, op: 'publish', room: 'flood', data: i });
    const { code } = await client.closed;
    assert.equal(code, 4400);
    const limited = client.frames.filter((f) => f.op === 'error' && f.code === 'RATE_LIMITED');
    // The burst was stored even if the 4400 close overtook its replies.
    const history = await bystander.request({ op: 'history', room: 'flood', limit: 20 });
    const stored = (history.messages as { data: number }[]).map((m) => m.data);
    assert.ok(stored.length >= 3 && stored.length < 20, `the burst of 3 (and no more than the rate allows) stored, got ${stored}`);
    assert.ok(limited.length >= 5, `at least violationsBeforeClose RATE_LIMITED errors, got ${limited.length}`);
    await assertGatewayHealthy();
  });

  it('a room outside the token’s patterns is FORBIDDEN for subscribe, publish, presence and history', async () => {
    const client = await gw.client('student', { rooms: ['math-*', 'lobby'] });
    assert.equal((await client.request({ op: 'subscribe', room: 'math-101' })).op, 'subscribed');
    assert.equal((await client.request({ op: 'subscribe', room: 'lobby' })).op, 'subscribed');
    for (const op of ['subscribe', 'publish', 'presence', 'history']) {
      const reply = await client.request({ op, room: 'teachers-lounge', data: 1 });
      assert.equal(reply.code, 'FORBIDDEN', op);
    }
    assert.equal((await client.request({ op: 'subscribe', room: 'user:someone-else' })).code, 'FORBIDDEN');
    await client.close();
    await assertGatewayHealthy();
  });

  it('missing, invalid, wrongly signed and expired tokens close with 4001', async () => {
    const tokens: Array<[unknown, RegExp]> = [
      [undefined, /missing/],
      [12345, /missing/],
      ['not.a.jwt', /invalid/],
      [await signToken('eve', { secret: 'another-secret-another-secret-another' }), /invalid/],
      [await signToken('eve', { expiresInSec: -120 }), /expired/],
    ];
    for (const [token, message] of tokens) {
      const client = await TestClient.open(gw.wsUrl);
      const reply = await client.request({ op: 'connect', token });
      assert.equal(reply.code, 'UNAUTHORIZED');
      assert.match(reply.message, message);
      assert.equal((await client.closed).code, 4001);
    }
    await assertGatewayHealthy();
  });

  it('commands before connect answer UNAUTHORIZED; a second connect answers ALREADY_CONNECTED', async () => {
    const client = await TestClient.open(gw.wsUrl);
    const early = await client.request({ op: 'subscribe', room: 'x' });
    assert.equal(early.code, 'UNAUTHORIZED');
    assert.equal((await client.request({ op: 'connect', token: await gw.token('late') })).op, 'connected');
    assert.equal((await client.request({ op: 'connect', token: await gw.token('late') })).code, 'ALREADY_CONNECTED');
    await client.close();
    await assertGatewayHealthy();
  });

  it('no connect within limits.connectTimeoutMs closes with 4003', async () => {
    const client = await TestClient.open(gw.wsUrl);
    const { code } = await client.closed;
    assert.equal(code, 4003);
    await assertGatewayHealthy();
  });

  it('thousands of subscribes: roomsPerConnection succeed, the rest answer LIMIT_EXCEEDED, the connection stays', async () => {
    const client = await gw.client('hoarder');
    const total = 2000;
    const base = 100_000; // clear of the ids request() hands out
    for (let i = 0; i < total; i += 1) client.send({ id: base + i, op: 'subscribe', room: `many-${i}` });
    const replies = await client.waitCount((f) => typeof f.id === 'number' && f.id >= base, total, 60_000);
    const subscribed = replies.filter((f) => f.op === 'subscribed');
    const limited = replies.filter((f) => f.code === 'LIMIT_EXCEEDED');
    assert.equal(subscribed.length, 128);
    assert.equal(limited.length, total - 128);
    assert.equal((await client.request({ op: 'ping' })).op, 'pong');
    assert.equal((await client.request({ op: 'subscribe', room: 'many-0' })).code, 'ALREADY_SUBSCRIBED');
    assert.equal((await client.request({ op: 'unsubscribe', room: 'never' })).code, 'NOT_SUBSCRIBED');
    await client.close();
    await assertGatewayHealthy();
  });

  it('the server API refuses requests without the right key (401) and bad bodies (400, 413)', async () => {
    const body = JSON.stringify({ room: 'quiet', data: 'sneaky' });
    const noKey = await gw.apiJson('/v1/publish', { method: 'POST', body, apiKey: null });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.body.error.code, 'UNAUTHORIZED');
    const wrongKey = await gw.apiJson('/v1/publish', { method: 'POST', body, apiKey: 'wrong' });
    assert.equal(wrongKey.status, 401);
    for (const path of ['/v1/rooms/quiet/presence', '/v1/rooms/quiet/history']) {
      assert.equal((await gw.apiJson(path, { apiKey: null })).status, 401, path);
    }
    const badJson = await gw.apiJson('/v1/publish', { method: 'POST', body: '{oops' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error.code, 'BAD_REQUEST');
    const noRoom = await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ data: 1 }) });
    assert.match(noRoom.body.error.message, /room must be a string/);
    const tooBig = await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'quiet', data: 'x'.repeat(10_000) }) });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.error.code, 'TOO_LARGE');
    const wrongMethod = await gw.apiJson('/v1/publish');
    assert.equal(wrongMethod.status, 405);
    const nowhere = await gw.apiJson('/v1/nowhere');
    assert.equal(nowhere.status, 404);
    // The bystander receives a later publication in the same room, so 'sneaky' would have come first.
    await assertGatewayHealthy();
    assert.equal(bystander.messages('quiet').some((m) => m.data === 'sneaky'), false);
  });

  it('a publish is checked alike over WebSocket and the server API: one mid limit, the same messages', async () => {
    const client = await gw.client('checker');
    const bad = [{ room: 'checks', data: 1, mid: 'm'.repeat(129) }, { room: 'checks', data: 1, mid: '' }, { room: 'checks', mid: 'no-data' }];
    for (const fields of bad) {
      const overWs = await client.request({ op: 'publish', ...fields });
      const overHttp = await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify(fields) });
      assert.equal(overWs.code, 'BAD_REQUEST', JSON.stringify(fields));
      assert.equal(overHttp.status, 400);
      assert.equal(overHttp.body.error.message, overWs.message);
    }
    // The longest mid is taken by both, and both publish through one idempotent operation.
    const mid = 'm'.repeat(128);
    const first = await client.request({ op: 'publish', room: 'checks', data: 'once', mid });
    assert.equal(first.op, 'published');
    const again = await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'checks', data: 'once', mid }) });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { room: 'checks', epoch: first.epoch, offset: first.offset, mid, duplicate: true });
    await client.close();
    await assertGatewayHealthy();
  });

  it('nesting past limits.maxJsonDepth answers BAD_REQUEST wherever it is, over WebSocket and HTTP; brackets in strings do not count', async () => {
    const deep = (open: string, close: string, levels: number) => open.repeat(levels) + '1' + close.repeat(levels);
    const refused = [
      `{"id":101,"op":"publish","room":"r","data":${deep('[', ']', 8)}}`,
      `{"id":102,"op":"publish","room":"r","data":${deep('{"k":', '}', 8)}}`,
      `{"id":103,"op":"subscribe","room":"r","recover":${deep('[', ']', 20)}}`,
      `{"id":104,"op":"ping","padding":${deep('[{"a":', '}]', 5)}}`,
      `{"id":105,"op":"publish","room":"r","data":${deep('[', ']', 1500)}}`,
    ];
    let client = await gw.client('nester');
    for (const [index, frame] of refused.entries()) {
      if (index > 0 && index % 4 === 0) {
        await client.close();
        client = await gw.client('nester');
      }
      client.send(frame);
      const reply = await client.waitFrame((f) => f.id === 101 + index);
      assert.equal(reply.code, 'BAD_REQUEST', frame.slice(0, 80));
      assert.match(reply.message, /deeper than 8 levels \(limits\.maxJsonDepth\)/);
    }
    // Seven levels of data inside the frame object is eight: accepted, and so are brackets in strings.
    const withinText = `{"id":110,"op":"publish","room":"r","data":{"text":"${'[{'.repeat(500)}","n":${deep('[', ']', 6)}}}`;
    client.send(withinText);
    assert.equal((await client.waitFrame((f) => f.id === 110)).op, 'published');
    const http = await gw.apiJson('/v1/publish', { method: 'POST', body: `{"room":"r","data":${deep('{"k":', '}', 9)}}` });
    assert.equal(http.status, 400);
    assert.match(http.body.error.message, /body nests arrays\/objects deeper than 8/);
    await client.close();
    await assertGatewayHealthy();
  });

  it('names in the reserved user: namespace are FORBIDDEN for every op unless they are the caller’s own personal room', async () => {
    const client = await gw.client('x:y', { rooms: ['*'] });
    const own = (client.frames.find((f) => f.op === 'connected') ?? {}).personalRoom;
    assert.equal(own, 'user:x@3Ay');
    for (const room of ['user:x', 'user:x:y', 'user:x@3ay', 'user:bystander', 'user:']) {
      for (const op of ['subscribe', 'publish', 'presence', 'history']) {
        const reply = await client.request({ op, room, data: 1 });
        assert.equal(reply.code, 'FORBIDDEN', `${op} ${room}`);
      }
    }
    assert.equal((await client.request({ op: 'subscribe', room: own })).op, 'subscribed');
    await client.close();
    await assertGatewayHealthy();
  });

  it('pipelined HTTP requests past limits.httpMaxRequestsPerSocket get no work and the connection closes', async () => {
    for (const request of ['GET /healthz', 'GET /v1/nowhere', 'POST /v1/publish']) {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(gw.port, '127.0.0.1', () => socket.write(`${request} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`.repeat(300)));
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.equal([...reply.matchAll(/HTTP\/1\.1 \d{3}/g)].length, 10, request);
    }
    await assertGatewayHealthy();
  });

  it('sockets that never connect, opened and re-opened from many addresses, hold at most their caps and free them on close', async () => {
    const capped = await startGateway({ limits: { maxAnonymousSockets: 6, maxAnonymousSocketsPerAddress: 4, connectTimeoutMs: 120_000 } });
    try {
      for (let round = 0; round < 3; round += 1) {
        const opened: TestClient[] = [];
        const outcomes: string[] = [];
        for (const address of ['127.0.0.21', '127.0.0.21', '127.0.0.21', '127.0.0.21', '127.0.0.21', '127.0.0.22', '127.0.0.22', '127.0.0.23']) {
          try {
            opened.push(await TestClient.open(capped.wsUrl, { localAddress: address }));
            outcomes.push('open');
          } catch (error) {
            outcomes.push(String((error as Error).message.match(/HTTP \d{3}/)));
          }
        }
        // 4 from .21, the 5th is over its address cap; 2 from .22 fill the node-wide 6; .23 finds the node full.
        assert.deepEqual(outcomes, ['open', 'open', 'open', 'open', 'HTTP 429', 'open', 'open', 'HTTP 503'], `round ${round}`);
        const user = await TestClient.connected(capped.wsUrl, await capped.token('unaffected')).catch((error: Error) => error);
        assert.ok(user instanceof Error, 'while the node is full a new socket is refused like any other (connected users are unaffected)');
        // A waiting socket that connects is a user; its slot frees at once.
        assert.equal((await opened[0].request({ op: 'connect', token: await capped.token(`user-${round}`) })).op, 'connected');
        const late = await TestClient.connected(capped.wsUrl, await capped.token('late'));
        await Promise.all([...opened, late].map((c) => c.close()));
        await waitFor(() => capped.gateway.connections.size === 0, { what: 'every socket closed' });
      }
    } finally {
      await capped.close();
    }
    await assertGatewayHealthy();
  });

  it('upgrades on other paths are refused', async () => {
    await assert.rejects(TestClient.open(`ws://127.0.0.1:${gw.port}/elsewhere`), /HTTP 404/);
    await assertGatewayHealthy();
  });
});
