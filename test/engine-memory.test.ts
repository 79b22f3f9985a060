/**
 * The memory engine against the engine contract, plus what only the memory engine offers:
 * the injected clock and fault injection through its shared backend.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBackend } from '../gateway/engine/memory-backend.ts';
import { MemoryEngine } from '../gateway/engine/memory.ts';
import { EngineUnavailableError } from '../gateway/engine/types.ts';
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
