/**
 * createEngine picks the backend from the configuration and rejects invalid options up front.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEngine, EngineInputError, silentLogger } from '../gateway/engine/index.ts';

test('without a Redis URL the engine is the in-memory one', async () => {
  const engine = createEngine({ region: 'r1', engine: {}, logger: silentLogger });
  assert.equal(engine.name, 'memory');
  await engine.close();
});

test('with a Redis URL the engine is the Redis one, and it connects only on start', async () => {
  const engine = createEngine({ redisUrl: 'redis://127.0.0.1:1', region: 'r1', engine: { historySize: 50 }, logger: silentLogger });
  assert.equal(engine.name, 'redis');
  assert.equal(engine.healthy(), false);
  await engine.close();
});

test('invalid engine options fail at creation with BAD_REQUEST, naming the option', () => {
  for (const [engine, field] of [
    [{ historySize: 0 }, 'historySize'],
    [{ historyTtlMs: -1 }, 'historyTtlMs'],
    [{ presenceTtlMs: 1.5 }, 'presenceTtlMs'],
  ] as const) {
    assert.throws(
      () => createEngine({ region: 'r1', engine, logger: silentLogger }),
      (error: unknown) => error instanceof EngineInputError && error.code === 'BAD_REQUEST' && error.message.includes(field),
    );
  }
  assert.throws(
    () => createEngine({ redisUrl: 'redis://127.0.0.1:1', region: 'r1', engine: {}, logger: silentLogger, redis: { subscribeBatchSize: 0 } }),
    (error: unknown) => error instanceof EngineInputError && error.message.includes('subscribeBatchSize'),
  );
});
