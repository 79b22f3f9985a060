/**
 * Deeply nested JSON cannot poison a room: a frame or HTTP body nested past limits.maxJsonDepth
 * is refused with BAD_REQUEST before it is parsed, nothing is stored, and the room keeps a
 * gapless stream that live delivery, history and recover all serve. Run against the memory
 * engine and a real redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEngine, silentLogger, type Engine } from '../gateway/engine/index.ts';
import { startGateway, type TestClient, type TestGateway } from './helpers/gateway.ts';
import { skipUnless, startRedis, type RedisServer } from './helpers/services.ts';

const maxJsonDepth = 64;

/** `levels` nested arrays around 1, as text (JSON.stringify of such a value may itself overflow). */
function nestedArrays(levels: number): string {
  return '['.repeat(levels) + '1' + ']'.repeat(levels);
}

/** A publish frame whose `data` nests `levels` deep (the frame object adds one more level). */
function publishFrame(id: number, room: string, levels: number): string {
  return `{"id":${id},"op":"publish","room":"${room}","data":${nestedArrays(levels)}}`;
}

function scenarios(engineName: 'memory' | 'redis'): void {
  const skip = engineName === 'redis' ? skipUnless('redis-server', 'the nesting scenario on the Redis engine') : false;

  describe(`a deeply nested message on the ${engineName} engine`, { skip }, () => {
    let redis: RedisServer | undefined;
    let engine: Engine | undefined;
    let gw: TestGateway;

    before(async () => {
      if (engineName === 'redis') {
        redis = await startRedis();
        engine = createEngine({ redisUrl: redis.url, region: 'test-region', engine: {}, logger: silentLogger });
      }
      gw = await startGateway({ limits: { maxJsonDepth } }, { engine });
    });
    after(async () => {
      await gw?.close();
      await engine?.close();
      await redis?.stop();
    });

    async function reply(client: TestClient, id: number): Promise<Record<string, any>> {
      return client.waitFrame((f) => f.id === id, { what: `reply #${id}` });
    }

    it('is refused over WebSocket and HTTP; the room keeps a gapless stream that history and recover serve', async () => {
      const room = `nest-${engineName}`;
      const subscriber = await gw.client('reader');
      const subscribed = await subscriber.request({ op: 'subscribe', room });
      const start = { epoch: subscribed.epoch, offset: subscribed.offset };
      const bystander = await gw.client('bystander');
      await bystander.request({ op: 'subscribe', room: 'elsewhere' });
      const writer = await gw.client('writer');

      assert.equal((await writer.request({ op: 'publish', room, data: 'before' })).op, 'published');

      // The instance from the field: 20,000 levels, well within maxMessageBytes as text.
      writer.send(publishFrame(9001, room, 20_000));
      const deep = await reply(writer, 9001);
      assert.equal(deep.op, 'error');
      assert.equal(deep.code, 'BAD_REQUEST');
      assert.match(deep.message, /deeper than 64 levels \(limits\.maxJsonDepth\)/);

      // The boundary: data at 63 levels (64 with the frame) is a message; one more is not.
      writer.send(publishFrame(9002, room, maxJsonDepth - 1));
      assert.equal((await reply(writer, 9002)).op, 'published');
      writer.send(publishFrame(9003, room, maxJsonDepth));
      assert.equal((await reply(writer, 9003)).code, 'BAD_REQUEST');

      const http = await gw.apiJson('/v1/publish', { method: 'POST', body: `{"room":"${room}","data":${nestedArrays(20_000)}}` });
      assert.equal(http.status, 400);
      assert.equal(http.body.error.code, 'BAD_REQUEST');
      assert.match(http.body.error.message, /body nests arrays\/objects deeper than 64/);

      assert.equal((await writer.request({ op: 'publish', room, data: 'after' })).op, 'published');

      // Live: three messages with consecutive offsets, no gap, no 4010.
      const live = await subscriber.waitCount((f) => f.op === 'message' && f.room === room, 3);
      assert.deepEqual(live.map((m) => m.offset), [start.offset + 1, start.offset + 2, start.offset + 3]);
      assert.equal(live[0].data, 'before');
      assert.equal(live[2].data, 'after');
      assert.equal(JSON.stringify(live[1].data), nestedArrays(maxJsonDepth - 1));

      const history = await writer.request({ op: 'history', room, limit: 10 });
      assert.equal(history.op, 'history');
      assert.deepEqual(history.messages.map((m: { data: unknown }) => (typeof m.data === 'string' ? m.data : 'nested')), ['before', 'nested', 'after']);
      const httpHistory = await gw.apiJson(`/v1/rooms/${room}/history?limit=10`);
      assert.equal(httpHistory.status, 200);
      assert.equal(httpHistory.body.messages.length, 3);

      const late = await gw.client('late-reader');
      const recovered = await late.request({ op: 'subscribe', room, recover: start });
      assert.equal(recovered.op, 'subscribed');
      assert.equal(recovered.recovered, true);
      assert.equal(recovered.messages.length, 3);

      // The bystander's room is untouched and still served.
      assert.equal((await bystander.request({ op: 'publish', room: 'elsewhere', data: 'fine' })).op, 'published');
      await bystander.waitFrame((f) => f.op === 'message' && f.data === 'fine');
      assert.equal(subscriber.frames.some((f) => f.op === '__socket_error__'), false);
    });
  });
}

scenarios('memory');
scenarios('redis');
