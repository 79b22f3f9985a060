/**
 * AI on room traffic: moderation (block and flag) and the rolling sentiment of a room.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeAiServer } from './helpers/fake-ai.ts';
import { startGateway } from './helpers/gateway.ts';

describe('moderation of room traffic', () => {
  test('block: a flagged message is refused with BLOCKED and never stored; a clean one goes through', async () => {
    const gw = await startGateway({ ai: { providers: [{ name: 'local' }], moderation: [{ rooms: 'class-*', mode: 'block', timeoutMs: 5000 }] } });
    try {
      const client = await gw.client('u1');
      await client.request({ op: 'subscribe', room: 'class-1' });
      const blocked = await client.request({ op: 'publish', room: 'class-1', data: { text: 'you are a fucking idiot' } });
      assert.equal(blocked.op, 'error');
      assert.equal(blocked.code, 'BLOCKED');
      const clean = await client.request({ op: 'publish', room: 'class-1', data: { text: 'see you tomorrow' } });
      assert.equal(clean.op, 'published');
      const history = await client.request({ op: 'history', room: 'class-1' });
      assert.deepEqual(history.messages.map((m: { data: unknown }) => m.data), [{ text: 'see you tomorrow' }]);
      // Rooms without a rule are not moderated.
      assert.equal((await client.request({ op: 'publish', room: 'lobby', data: 'fucking great' })).op, 'published');
    } finally {
      await gw.close();
    }
  });

  test('block with a verdict too late: the configured default applies', async () => {
    const openai = await FakeAiServer.start('openai');
    const gw = await startGateway({
      ai: {
        providers: [{ name: 'openai', model: 'm', apiKey: openai.apiKey, baseUrl: openai.baseUrl, inputUsdPer1M: 1, outputUsdPer1M: 1 }],
        moderation: [
          { rooms: 'strict-*', mode: 'block', timeoutMs: 100, onTimeout: 'block' },
          { rooms: 'open-*', mode: 'block', timeoutMs: 100, onTimeout: 'allow' },
        ],
      },
    });
    try {
      openai.behave({ latencyMs: 1000 });
      const client = await gw.client('u1');
      assert.equal((await client.request({ op: 'publish', room: 'strict-1', data: 'hello' })).code, 'BLOCKED');
      assert.equal((await client.request({ op: 'publish', room: 'open-1', data: 'hello' })).op, 'published');
    } finally {
      await gw.close();
      await openai.close();
    }
  });

  test('flag: the publish is not delayed by the verdict; moderators get a flag event afterwards', async () => {
    const openai = await FakeAiServer.start('openai');
    const gw = await startGateway({
      ai: {
        providers: [{ name: 'openai', model: 'm', apiKey: openai.apiKey, baseUrl: openai.baseUrl, inputUsdPer1M: 1, outputUsdPer1M: 1 }],
        moderation: [{ rooms: 'chat-*', mode: 'flag' }],
      },
    });
    try {
      // The verdict takes a second; the publish must not wait for it.
      openai.behave({ latencyMs: 1000, reply: '{"flagged": true, "categories": ["harassment"]}' });
      const moderator = await gw.client('teacher', { rooms: ['moderators:*', 'chat-*'] });
      await moderator.request({ op: 'subscribe', room: 'moderators:chat-1' });
      const student = await gw.client('student', { rooms: ['chat-*'] });
      const published = await student.request({ op: 'publish', room: 'chat-1', data: { text: 'nobody likes you' } });
      assert.equal(published.op, 'published');
      assert.equal(moderator.messages('moderators:chat-1').length, 0, 'the flag comes after the publish was answered');
      const flag = await moderator.waitFrame((f) => f.op === 'message' && f.room === 'moderators:chat-1');
      assert.deepEqual(flag.data, { event: 'flag', room: 'chat-1', mid: published.mid, user: 'student', categories: ['harassment'] });
      assert.equal(openai.requests.length, 1);
    } finally {
      await gw.close();
      await openai.close();
    }
  });
});

describe('room sentiment', () => {
  test('a rolling score per room, read with the API key and exported as a metric', async () => {
    const gw = await startGateway({ ai: { providers: [{ name: 'local' }], sentiment: { rooms: ['class-*'] } } });
    try {
      const client = await gw.client('u1');
      for (const text of ['I love this class', 'This is great, thank you', 'wonderful explanation']) {
        assert.equal((await client.request({ op: 'publish', room: 'class-9', data: { text } })).op, 'published');
      }
      let body: Record<string, any> = {};
      for (let i = 0; i < 100 && body.messages !== 3; i += 1) {
        body = (await gw.apiJson('/v1/rooms/class-9/sentiment')).body;
        if (body.messages !== 3) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(body.messages, 3);
      assert.ok(body.score > 0.2, `score ${body.score}`);
      assert.equal((await gw.apiJson('/v1/rooms/class-9/sentiment', { apiKey: null })).status, 401);
      const metrics = await (await fetch(gw.metricsUrl)).text();
      assert.match(metrics, /meridian_ai_room_sentiment\{room="class-9"\} 0\.\d+/);
    } finally {
      await gw.close();
    }
  });
});
