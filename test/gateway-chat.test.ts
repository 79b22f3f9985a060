/**
 * Happy-path scenarios against a real gateway on loopback: chat, presence, history, recovery
 * after reconnect and the server API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, TestClient, type TestGateway } from './helpers/gateway.ts';
import { waitFor } from './helpers/net.ts';

describe('gateway chat scenarios', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw.close();
  });

  it('connect answers with client, user, region and node', async () => {
    const client = await TestClient.open(gw.wsUrl);
    const reply = await client.request({ op: 'connect', token: await gw.token('ada') });
    assert.equal(reply.op, 'connected');
    assert.equal(reply.user, 'ada');
    assert.equal(reply.region, 'test-region');
    assert.equal(reply.node, 'test-node');
    assert.match(reply.client, /^c[\w-]+$/);
    assert.deepEqual(await client.request({ op: 'ping' }), { id: 2, op: 'pong' });
    await client.close();
  });

  it('two clients in a room see each other’s messages in order', async () => {
    const ada = await gw.client('ada');
    const bob = await gw.client('bob');
    const subA = await ada.request({ op: 'subscribe', room: 'chat-1' });
    const subB = await bob.request({ op: 'subscribe', room: 'chat-1' });
    assert.equal(subA.op, 'subscribed');
    assert.equal(subA.offset, 0);
    assert.deepEqual(subA.messages, []);
    assert.equal(subB.epoch, subA.epoch);

    const ack = await ada.request({ op: 'publish', room: 'chat-1', data: { text: 'hello bob' } });
    assert.equal(ack.op, 'published');
    assert.equal(ack.offset, 1);
    assert.equal(ack.epoch, subA.epoch);
    await bob.request({ op: 'publish', room: 'chat-1', data: { text: 'hi ada' } });

    for (const client of [ada, bob]) {
      const messages = await client.waitCount((f) => f.op === 'message' && f.room === 'chat-1', 2);
      assert.deepEqual(messages.map((m) => m.data.text), ['hello bob', 'hi ada']);
      assert.deepEqual(messages.map((m) => m.offset), [1, 2]);
      assert.equal(messages[0].from.user, 'ada');
      assert.equal(messages[0].region, 'test-region');
      assert.equal(typeof messages[0].mid, 'string');
      assert.equal(typeof messages[0].ts, 'number');
    }
    await Promise.all([ada.close(), bob.close()]);
  });

  it('presence lists members and pushes join and leave', async () => {
    const ada = await gw.client('ada', { name: 'Ada L.' });
    await ada.request({ op: 'subscribe', room: 'study-1' });
    const bob = await gw.client('bob');
    await bob.request({ op: 'subscribe', room: 'study-1' });

    const join = await ada.waitFrame((f) => f.op === 'join' && f.member.user === 'bob');
    assert.equal(join.room, 'study-1');
    assert.equal(join.member.region, 'test-region');

    const presence = await bob.request({ op: 'presence', room: 'study-1' });
    assert.deepEqual(presence.members.map((m: { user: string }) => m.user).sort(), ['ada', 'bob']);
    assert.equal(presence.total, 2);
    assert.equal(presence.members.find((m: { user: string }) => m.user === 'ada').name, 'Ada L.');

    const http = (await gw.apiJson('/v1/rooms/study-1/presence')).body;
    assert.equal(http.total, 2);

    await bob.close();
    const leave = await ada.waitFrame((f) => f.op === 'leave' && f.member.user === 'bob');
    assert.equal(leave.room, 'study-1');
    const after = await ada.request({ op: 'presence', room: 'study-1' });
    assert.deepEqual(after.members.map((m: { user: string }) => m.user), ['ada']);

    await ada.request({ op: 'unsubscribe', room: 'study-1' });
    const empty = (await gw.apiJson('/v1/rooms/study-1/presence')).body;
    assert.equal(empty.total, 0);
    await ada.close();
  });

  it('history returns the newest messages, oldest first, over WebSocket and HTTP', async () => {
    const ada = await gw.client('ada');
    for (let i = 1; i <= 5; i += 1) await ada.request({ op: 'publish', room: 'hist-1', data: { n: i } });
    const history = await ada.request({ op: 'history', room: 'hist-1', limit: 3 });
    assert.equal(history.op, 'history');
    assert.equal(history.offset, 5);
    assert.deepEqual(history.messages.map((m: { data: { n: number } }) => m.data.n), [3, 4, 5]);
    const since = await ada.request({ op: 'history', room: 'hist-1', since: 3, limit: 10 });
    assert.deepEqual(since.messages.map((m: { offset: number }) => m.offset), [4, 5]);

    const http = (await gw.apiJson('/v1/rooms/hist-1/history?limit=2')).body;
    assert.deepEqual(http.messages.map((m: { offset: number }) => m.offset), [4, 5]);
    assert.equal(http.epoch, history.epoch);
    await ada.close();
  });

  it('a reconnecting client recovers what it missed from its epoch and offset', async () => {
    const ada = await gw.client('ada');
    const bob = await gw.client('bob');
    const sub = await ada.request({ op: 'subscribe', room: 'rec-1' });
    await bob.request({ op: 'publish', room: 'rec-1', data: 'one' });
    const first = await ada.waitFrame((f) => f.op === 'message' && f.room === 'rec-1');
    await ada.close();

    await bob.request({ op: 'publish', room: 'rec-1', data: 'two' });
    await bob.request({ op: 'publish', room: 'rec-1', data: 'three' });

    const again = await gw.client('ada');
    const recovered = await again.request({ op: 'subscribe', room: 'rec-1', recover: { epoch: first.epoch, offset: first.offset } });
    assert.equal(recovered.recovered, true);
    assert.equal(recovered.epoch, sub.epoch);
    assert.equal(recovered.offset, 3);
    assert.deepEqual(recovered.messages.map((m: { data: string }) => m.data), ['two', 'three']);

    // A position from another epoch cannot be recovered: the client must reload.
    const other = await gw.client('carol');
    const stale = await other.request({ op: 'subscribe', room: 'rec-1', recover: { epoch: 'some-old-epoch', offset: 1 } });
    assert.equal(stale.recovered, false);
    assert.deepEqual(stale.messages, []);
    assert.equal(stale.offset, 3);

    await bob.request({ op: 'publish', room: 'rec-1', data: 'four' });
    const live = await again.waitFrame((f) => f.op === 'message' && f.data === 'four');
    assert.equal(live.offset, 4);
    await Promise.all([again.close(), bob.close(), other.close()]);
  });

  it('the server API publishes to subscribers and is idempotent by mid', async () => {
    const ada = await gw.client('ada');
    await ada.request({ op: 'subscribe', room: 'news' });
    const body = JSON.stringify({ room: 'news', data: { headline: 'exam moved' }, mid: 'news-1' });
    const { status, body: ack } = await gw.apiJson('/v1/publish', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(status, 200);
    assert.equal(ack.offset, 1);
    assert.equal(ack.duplicate, false);
    const message = await ada.waitFrame((f) => f.op === 'message' && f.room === 'news');
    assert.equal(message.data.headline, 'exam moved');
    assert.equal(message.from, undefined);
    assert.equal(message.mid, 'news-1');

    const retry = (await gw.apiJson('/v1/publish', { method: 'POST', body })).body;
    assert.equal(retry.duplicate, true);
    assert.equal(retry.offset, 1);
    // Delivery is ordered per room: once a later publication arrives, a repeat would have too.
    await gw.apiJson('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'news', data: { headline: 'later' }, mid: 'news-2' }) });
    await ada.waitFrame((f) => f.op === 'message' && f.mid === 'news-2');
    assert.deepEqual(ada.messages('news').map((m) => m.mid), ['news-1', 'news-2']);
    await ada.close();
  });

  it('unsubscribe stops delivery; the personal room user:<sub> is always allowed to its owner only', async () => {
    const ada = await gw.client('ada', { rooms: ['math-*'] });
    const bob = await gw.client('bob');
    await ada.request({ op: 'subscribe', room: 'user:ada' });
    // Another user cannot write into it, even with rooms ["*"]; the server API can.
    assert.equal((await bob.request({ op: 'publish', room: 'user:ada', data: 'sneaky' })).code, 'FORBIDDEN');
    const direct = await gw.api('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'user:ada', data: 'direct' }) });
    assert.equal(direct.status, 200);
    await ada.waitFrame((f) => f.op === 'message' && f.data === 'direct');
    const unsub = await ada.request({ op: 'unsubscribe', room: 'user:ada' });
    assert.equal(unsub.op, 'unsubscribed');
    await gw.api('/v1/publish', { method: 'POST', body: JSON.stringify({ room: 'user:ada', data: 'after' }) });
    await ada.request({ op: 'ping' });
    assert.equal(ada.messages('user:ada').length, 1);
    await Promise.all([ada.close(), bob.close()]);
  });
});

describe('gateway with permessage-deflate', () => {
  it('compressing and plain clients in one room both receive the fan-out', async () => {
    const gw = await startGateway({ perMessageDeflate: true });
    try {
      const deflating = await TestClient.open(gw.wsUrl, { perMessageDeflate: true });
      assert.match(deflating.ws.extensions, /permessage-deflate/);
      await deflating.request({ op: 'connect', token: await gw.token('zip') });
      const plain = await gw.client('plain');
      await deflating.request({ op: 'subscribe', room: 'mixed' });
      await plain.request({ op: 'subscribe', room: 'mixed' });
      const text = 'compressible '.repeat(200);
      await plain.request({ op: 'publish', room: 'mixed', data: text });
      for (const client of [deflating, plain]) {
        const message = await client.waitFrame((f) => f.op === 'message' && f.room === 'mixed');
        assert.equal(message.data, text);
      }
      await deflating.close();
    } finally {
      await gw.close();
    }
  });
});

describe('presence refresh', () => {
  it('live connections keep their entries past presence.ttlMs; an entry nobody refreshes expires', async () => {
    const gw = await startGateway({ presence: { ttlMs: 1000, refreshMs: 100 } });
    try {
      const ada = await gw.client('ada');
      await ada.request({ op: 'subscribe', room: 'long-class' });
      // A member left behind by a crashed node: added once, never refreshed.
      await gw.engine.presence.add('long-class', { user: 'ghost', client: 'c-ghost', region: 'elsewhere' });
      const users = async () => ((await ada.request({ op: 'presence', room: 'long-class' })).members as Array<{ user: string }>).map((m) => m.user).sort();
      assert.deepEqual(await users(), ['ada', 'ghost']);
      await waitFor(async () => !(await users()).includes('ghost'), { what: 'the ghost entry to expire', timeoutMs: 20_000 });
      assert.deepEqual(await users(), ['ada'], 'ada, refreshed every 100 ms, outlived the 1 s TTL');
    } finally {
      await gw.close();
    }
  });
});

describe('join and leave pushes in big rooms', () => {
  it('stop once a room has more members than presence.joinLeaveMaxMembers, while presence still lists everyone', async () => {
    const gw = await startGateway({ presence: { joinLeaveMaxMembers: 2 } });
    try {
      const ada = await gw.client('ada');
      await ada.request({ op: 'subscribe', room: 'lecture' });
      const bob = await gw.client('bob');
      await bob.request({ op: 'subscribe', room: 'lecture' });
      await ada.waitFrame((f) => f.op === 'join' && f.member.user === 'bob');
      const cy = await gw.client('cy');
      await cy.request({ op: 'subscribe', room: 'lecture' });
      // A marker published after cy joined: every push that was coming has arrived before it.
      await cy.request({ op: 'publish', room: 'lecture', data: 'marker' });
      await ada.waitFrame((f) => f.op === 'message' && f.data === 'marker');
      assert.equal(ada.frames.filter((f) => f.op === 'join' && f.member.user === 'cy').length, 0, 'no join push past the cap');
      const presence = await ada.request({ op: 'presence', room: 'lecture' });
      assert.equal(presence.total, 3);
      await Promise.all([ada.close(), bob.close(), cy.close()]);
    } finally {
      await gw.close();
    }
  });
});
