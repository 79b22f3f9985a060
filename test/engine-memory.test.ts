/**
 * The memory engine against the engine contract, plus what only the memory engine offers:
 * the injected clock and fault injection through its shared backend.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBackend } from '../gateway/engine/memory-backend.ts';
import { MemoryEngine } from '../gateway/engine/memory.ts';
import { EngineFullError, EngineUnavailableError } from '../gateway/engine/types.ts';
import { engineContract, input, Recorder, uniqueRoom } from './engine-contract.ts';
import { waitFor } from './helpers/net.ts';

engineContract('memory', async () => {
  let clock = 1_700_000_000_000;
  const backend = new MemoryBackend({ now: () => clock });
  return {
    createEngine: (engine) => new MemoryEngine({ engine, backend }),
    advance(ms) {
      clock += ms;
    },
    async close() {},
  };
});

test('memory: an unavailable backend fails calls fast, and its return resyncs subscribed rooms', async () => {
  const backend = new MemoryBackend();
  const engine = new MemoryEngine({ backend });
  const seen = new Recorder();
  await engine.start(seen);
  const room = uniqueRoom('fault');
  await engine.broker.subscribe([room]);
  backend.setAvailable(false);
  assert.equal(engine.healthy(), false);
  await assert.rejects(engine.broker.publish(input(room, 'lost?')), EngineUnavailableError);
  await assert.rejects(engine.presence.list(room), EngineUnavailableError);
  backend.setAvailable(true);
  assert.equal(engine.healthy(), true);
  await waitFor(() => seen.resyncs.length === 1, { what: 'resynced' });
  assert.deepEqual(seen.resyncs, [[room]]);
  assert.equal((await engine.history.position(room)).offset, 0, 'the failed publish stored nothing');
  await engine.close();
});

test('memory: calls before start are rejected, and a throwing handler does not stop later deliveries', async () => {
  const engine = new MemoryEngine();
  const room = uniqueRoom('handler');
  await assert.rejects(engine.broker.publish(input(room, 1)), EngineUnavailableError);
  const delivered: unknown[] = [];
  await engine.start({
    publication(pub) {
      delivered.push(pub.data);
      if (pub.data === 'boom') throw new Error('handler bug');
    },
    roomEvent() {},
    resynced() {},
  });
  await engine.broker.subscribe([room]);
  await engine.broker.publish(input(room, 'boom'));
  await engine.broker.publish(input(room, 'after'));
  await waitFor(() => delivered.length === 2, { what: 'both deliveries' });
  assert.deepEqual(delivered, ['boom', 'after']);
  await engine.close();
});

test('memory: handlers run after publish returns control, never inside the caller', async () => {
  const engine = new MemoryEngine();
  const room = uniqueRoom('async');
  let inside = false;
  let calledInside = false;
  let calls = 0;
  await engine.start({
    publication() {
      calls += 1;
      calledInside ||= inside;
    },
    roomEvent() {},
    resynced() {},
  });
  await engine.broker.subscribe([room]);
  inside = true;
  const pending = engine.broker.publish(input(room, 1));
  inside = false;
  await pending;
  await waitFor(() => calls === 1, { what: 'delivery' });
  assert.equal(calledInside, false);
  await engine.close();
});

test('memory: expired rooms are dropped by the sweep timer without any traffic, and the timer stops with the last engine', async () => {
  let clock = 1_700_000_000_000;
  const backend = new MemoryBackend({ now: () => clock, sweepIntervalMs: 100 });
  const engine = new MemoryEngine({ backend, engine: { historyTtlMs: 1_000 } });
  await engine.start(new Recorder());
  for (let i = 0; i < 20; i++) await engine.broker.publish(input(uniqueRoom('idle'), 'x'.repeat(100)));
  assert.equal(backend.streamCount, 20);
  assert.ok(backend.retainedBytes > 2_000);
  clock += 1_001;
  await waitFor(() => backend.streamCount === 0, { what: 'the sweep to drop the expired rooms' });
  assert.equal(backend.retainedBytes, 0, 'their bytes are released');
  assert.equal(backend.sweeping, true);
  await engine.close();
  assert.equal(backend.sweeping, false, 'no timer is left once no engine is attached');
});

test('memory: retained history is bounded by maxRetainedBytes; a publish past it is STORAGE_FULL until rooms expire', async () => {
  let clock = 1_700_000_000_000;
  const backend = new MemoryBackend({ now: () => clock, maxRetainedBytes: 10_000 });
  const engine = new MemoryEngine({ backend, engine: { historyTtlMs: 1_000 } });
  await engine.start(new Recorder());
  const rooms: string[] = [];
  let full: unknown;
  for (let i = 0; i < 100 && !full; i++) {
    const room = uniqueRoom('bounded');
    try {
      await engine.broker.publish(input(room, 'x'.repeat(500)));
      rooms.push(room);
    } catch (error) {
      full = error;
    }
  }
  assert.ok(full instanceof EngineFullError && full.code === 'STORAGE_FULL', `a publish past the bound is refused, got ${String(full)}`);
  assert.ok(backend.retainedBytes <= 10_000);
  assert.ok(rooms.length >= 10, 'rooms below the bound were stored');
  const kept = await engine.history.read(rooms[0], { since: 0, limit: 10 });
  assert.equal(kept.publications.length, 1, 'nothing stored is dropped to make room');
  clock += 1_001;
  const after = await engine.broker.publish(input(uniqueRoom('bounded'), 'after expiry'));
  assert.equal(after.offset, 1, 'expired rooms are dropped first, which makes room');
  await engine.close();
});

test('memory: a room at the largest offset continues in a new epoch', async () => {
  const backend = new MemoryBackend({ maxOffset: 3 });
  const engine = new MemoryEngine({ backend });
  await engine.start(new Recorder());
  const room = uniqueRoom('max-offset');
  const results = [];
  for (let i = 1; i <= 4; i++) results.push(await engine.broker.publish(input(room, i)));
  assert.deepEqual(results.map((r) => r.offset), [1, 2, 3, 1]);
  assert.equal(results[2].epoch, results[0].epoch);
  assert.notEqual(results[3].epoch, results[0].epoch);
  assert.deepEqual((await engine.history.read(room, { since: 0, limit: 10 })).publications.map((p) => p.data), [4]);
  await engine.close();
});
