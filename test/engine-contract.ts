/**
 * The engine contract: one suite every backend passes unchanged (memory, redis).
 *
 * A fixture makes engines that share one backend, as the gateway pods of a region share one
 * Redis. Every test uses its own room names, so the tests can share the backend.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EngineInputError } from '../gateway/engine/common.ts';
import { EngineUnavailableError, type Engine, type EngineOptions, type Member } from '../gateway/engine/types.ts';
import { waitFor } from './helpers/net.ts';
import { input, Recorder, uniqueRoom } from './engine-fixtures.ts';

export { input, Recorder, uniqueRoom } from './engine-fixtures.ts';

export interface EngineFixture {
  /** A new, not yet started engine ("pod") on the fixture's shared backend. */
  createEngine(options?: Partial<EngineOptions>): Engine;
  /**
   * Moves the engines' injected clock forward. TTLs the backend keeps in real time (Redis key
   * expiry) still take real time, so tests wait for the outcome after advancing.
   */
  advance(ms: number): void;
  close(): Promise<void>;
}

/** Short TTL used where a test needs something to expire; the memory clock makes it instant. */
const SHORT_TTL_MS = 1_000;

function member(client: string, user: string): Member {
  return { client, user, region: 'test-region' };
}

export function engineContract(backendName: string, setup: () => Promise<EngineFixture>): void {
  describe(`engine contract: ${backendName}`, () => {
    let fixture: EngineFixture;
    const engines: Engine[] = [];

    before(async () => {
      fixture = await setup();
    });

    after(async () => {
      for (const engine of engines) await engine.close();
      await fixture.close();
    });

    async function pod(options?: Partial<EngineOptions>): Promise<{ engine: Engine; seen: Recorder }> {
      const engine = fixture.createEngine(options);
      engines.push(engine);
      const seen = new Recorder();
      await engine.start(seen);
      return { engine, seen };
    }

    test('offsets start at 1 and grow by one per publish, in one epoch', async () => {
      const { engine } = await pod();
      const room = uniqueRoom('offsets');
      const empty = await engine.history.position(room);
      assert.equal(empty.offset, 0);
      assert.ok(empty.epoch.length > 0);
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await engine.broker.publish(input(room, { i })));
      assert.deepEqual(
        results.map((r) => r.offset),
        [1, 2, 3, 4, 5],
      );
      for (const r of results) {
        assert.equal(r.epoch, empty.epoch);
        assert.equal(r.duplicate, false);
      }
      assert.deepEqual(await engine.history.position(room), { epoch: empty.epoch, offset: 5 });
    });

    test('a retried publish with the same mid returns the first result and is neither stored nor delivered again', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const room = uniqueRoom('idempotent');
      await listener.broker.subscribe([room]);
      const first = input(room, { text: 'once' });
      const a = await publisher.broker.publish(first);
      const b = await publisher.broker.publish({ ...first, data: { text: 'changed' } });
      assert.deepEqual(b, { epoch: a.epoch, offset: a.offset, duplicate: true });
      const markerInput = input(room, { text: 'marker' });
      const marker = await publisher.broker.publish(markerInput);
      assert.equal(marker.offset, a.offset + 1);
      // Delivery is ordered per room: once the marker arrived, a duplicate would have too.
      const delivered = await seen.received(room, 2);
      assert.deepEqual(
        delivered.map((p) => p.data),
        [{ text: 'once' }, { text: 'marker' }],
      );
      const page = await publisher.history.read(room, { since: 0, limit: 10 });
      assert.deepEqual(
        page.publications.map((p) => p.mid),
        [first.mid, markerInput.mid],
      );
    });

    test('a fresh mid (made by the gateway for one publish) is stored and delivered, and not remembered', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const room = uniqueRoom('fresh-mid');
      await listener.broker.subscribe([room]);
      const fresh = { ...input(room, 'first'), freshMid: true };
      const a = await publisher.broker.publish(fresh);
      // Only a client's mid can come back as a retry; the same fresh mid again is a new message.
      const b = await publisher.broker.publish({ ...fresh, data: 'second' });
      assert.deepEqual([a.duplicate, b.duplicate, b.offset], [false, false, a.offset + 1]);
      const delivered = await seen.received(room, 2);
      assert.deepEqual(delivered.map((p) => [p.offset, p.data]), [[a.offset, 'first'], [b.offset, 'second']]);
      // A client publishing that mid later is not taken for a retry either.
      const c = await publisher.broker.publish({ ...input(room, 'third'), mid: fresh.mid });
      assert.deepEqual([c.duplicate, c.offset], [false, b.offset + 1]);
    });

    test('a mid is accepted again once its idempotency TTL has passed', async () => {
      const { engine } = await pod({ idempotencyTtlMs: SHORT_TTL_MS });
      const room = uniqueRoom('idempotency-ttl');
      const message = input(room, 'hello');
      const first = await engine.broker.publish(message);
      fixture.advance(SHORT_TTL_MS + 1);
      const again = await waitFor(
        async () => {
          const result = await engine.broker.publish(message);
          return result.duplicate ? undefined : result;
        },
        { what: 'the mid to be forgotten', intervalMs: 100 },
      );
      assert.equal(again.offset, first.offset + 1);
    });

    test('history read: newest `limit` without since, oldest first; `since` returns what follows it', async () => {
      const { engine } = await pod();
      const room = uniqueRoom('history');
      for (let i = 1; i <= 10; i++) await engine.broker.publish(input(room, i));
      const newest = await engine.history.read(room, { limit: 3 });
      assert.deepEqual(
        newest.publications.map((p) => p.offset),
        [8, 9, 10],
      );
      assert.equal(newest.offset, 10);
      const after4 = await engine.history.read(room, { since: 4, limit: 3 });
      assert.deepEqual(
        after4.publications.map((p) => p.offset),
        [5, 6, 7],
      );
      assert.deepEqual(
        after4.publications.map((p) => p.data),
        [5, 6, 7],
      );
      const upToDate = await engine.history.read(room, { since: 10, limit: 5 });
      assert.deepEqual(upToDate.publications, []);
      assert.equal(upToDate.epoch, newest.epoch);
      assert.deepEqual((await engine.history.read(room, { limit: 0 })).publications, []);
    });

    test('a history read with maxBytes stops before the publication that would pass it, and returns one at least', async () => {
      const { engine } = await pod();
      const room = uniqueRoom('history-bytes');
      const chunk = 'x'.repeat(1000);
      for (let i = 1; i <= 120; i++) await engine.broker.publish(input(room, { i, chunk }));
      const capped = await engine.history.read(room, { since: 0, limit: 120, maxBytes: 10_500 });
      const offsets = capped.publications.map((p) => p.offset);
      assert.ok(offsets.length >= 5 && offsets.length <= 10, `about ten 1 KB publications fit in 10.5 KB, got ${offsets.length}`);
      assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, k) => k + 1), 'the oldest first, contiguous');
      assert.equal(capped.offset, 120);
      // Reading on from the last offset continues where the capped read stopped (past one chunk of the script).
      const next = await engine.history.read(room, { since: 100, limit: 20, maxBytes: 3_500 });
      assert.deepEqual(next.publications.map((p) => p.offset).slice(0, 2), [101, 102]);
      const newest = await engine.history.read(room, { limit: 120, maxBytes: 3_500 });
      assert.equal(newest.publications.at(-1)!.offset, 120, 'a newest-first read keeps the newest');
      assert.ok(newest.publications.length < 5);
      const one = await engine.history.read(room, { since: 0, limit: 120, maxBytes: 1 });
      assert.deepEqual(one.publications.map((p) => p.offset), [1], 'one publication even when it alone passes the cap');
    });

    test('publications round-trip every field, live and from history alike', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const room = uniqueRoom('fields');
      await listener.broker.subscribe([room]);
      const data = { text: 'héllo ✓', nested: { list: [1, 'two', null, true], empty: {}, none: [] }, n: 1.5 };
      const message = input(room, data, { region: 'eu-west1', ts: 1_712_345_678_901, from: { user: 'alice', client: 'c-42' } });
      const serverApi = input(room, 'from the server', { from: undefined });
      delete serverApi.from;
      await publisher.broker.publish(message);
      await publisher.broker.publish(serverApi);
      const [live, liveServer] = await seen.received(room, 2);
      const stored = (await publisher.history.read(room, { since: 0, limit: 10 })).publications;
      for (const pub of [live!, stored[0]!]) {
        assert.deepEqual({ ...pub }, { room, epoch: stored[0]!.epoch, offset: 1, mid: message.mid, data, from: { user: 'alice', client: 'c-42' }, region: 'eu-west1', ts: 1_712_345_678_901 });
      }
      assert.equal(liveServer!.from, undefined);
      assert.equal(stored[1]!.from, undefined);
      assert.equal(liveServer!.data, 'from the server');
    });

    test('history keeps only the newest historySize publications; offsets keep counting', async () => {
      const { engine } = await pod({ historySize: 5 });
      const room = uniqueRoom('capped');
      for (let i = 1; i <= 12; i++) await engine.broker.publish(input(room, i));
      const page = await engine.history.read(room, { since: 0, limit: 100 });
      assert.deepEqual(
        page.publications.map((p) => p.offset),
        [8, 9, 10, 11, 12],
      );
      assert.equal(page.offset, 12);
      const partial = await engine.history.read(room, { since: 2, limit: 2 });
      assert.deepEqual(
        partial.publications.map((p) => p.offset),
        [8, 9],
        'the first publication is the lowest kept offset above since: the caller sees the gap',
      );
    });

    test('a history read stops at maxReadBytes and says so; at least one publication is returned', async () => {
      const { engine } = await pod({ maxReadBytes: 2_048 });
      const room = uniqueRoom('read-bytes');
      for (let i = 1; i <= 10; i++) await engine.broker.publish(input(room, 'x'.repeat(500) + i));
      const oldest = await engine.history.read(room, { since: 0, limit: 10 });
      assert.equal(oldest.truncated, true);
      const oldestOffsets = oldest.publications.map((p) => p.offset);
      assert.ok(oldestOffsets.length >= 1 && oldestOffsets.length < 10, `a partial page, got ${oldestOffsets}`);
      assert.deepEqual(oldestOffsets, Array.from({ length: oldestOffsets.length }, (_, i) => i + 1), 'oldest first, from since + 1');
      const next = await engine.history.read(room, { since: oldestOffsets.at(-1)!, limit: 10 });
      assert.equal(next.publications[0].offset, oldestOffsets.at(-1)! + 1, 'paging on from the last offset continues without a gap');
      const newest = await engine.history.read(room, { limit: 10 });
      assert.equal(newest.truncated, true);
      assert.equal(newest.publications.at(-1)!.offset, 10, 'without since, the newest are kept');
      const small = await engine.history.read(room, { since: 8, limit: 2 });
      assert.equal(small.truncated, false);
      assert.deepEqual(small.publications.map((p) => p.offset), [9, 10]);
      const { engine: tiny } = await pod({ maxReadBytes: 1 });
      const one = await tiny.history.read(room, { since: 0, limit: 10 });
      assert.deepEqual(one.publications.map((p) => p.offset), [1], 'a cap below one publication still returns one');
    });

    test('a room whose history expired starts a new epoch at offset 1', async () => {
      const { engine } = await pod({ historyTtlMs: SHORT_TTL_MS });
      const room = uniqueRoom('expiry');
      const first = await engine.broker.publish(input(room, 'old'));
      await engine.broker.publish(input(room, 'old too'));
      fixture.advance(SHORT_TTL_MS + 1);
      await waitFor(async () => (await engine.history.position(room)).epoch !== first.epoch, { what: 'a new epoch', intervalMs: 100 });
      const fresh = await engine.broker.publish(input(room, 'new'));
      assert.notEqual(fresh.epoch, first.epoch);
      assert.equal(fresh.offset, 1);
      const page = await engine.history.read(room, { since: 0, limit: 10 });
      assert.deepEqual(
        page.publications.map((p) => p.data),
        ['new'],
      );
    });

    test('concurrent publishes reach another pod in offset order, each exactly once', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const room = uniqueRoom('ordered');
      await listener.broker.subscribe([room]);
      const count = 200;
      const results = await Promise.all(Array.from({ length: count }, (_, i) => publisher.broker.publish(input(room, i))));
      assert.deepEqual(
        results.map((r) => r.offset).sort((a, b) => a - b),
        Array.from({ length: count }, (_, i) => i + 1),
      );
      const delivered = await seen.received(room, count);
      assert.deepEqual(
        delivered.map((p) => p.offset),
        Array.from({ length: count }, (_, i) => i + 1),
      );
      const stored = await publisher.history.read(room, { since: 0, limit: count });
      assert.deepEqual(
        delivered.map((p) => [p.offset, p.mid]),
        stored.publications.map((p) => [p.offset, p.mid]),
        'every delivery is in history under the same offset',
      );
    });

    test('two pods publishing into one room at once: every pod sees one order, the offsets', async () => {
      const { engine: a, seen: seenA } = await pod();
      const { engine: b, seen: seenB } = await pod();
      const room = uniqueRoom('two-publishers');
      await a.broker.subscribe([room]);
      await b.broker.subscribe([room]);
      const perPod = 50;
      await Promise.all(
        Array.from({ length: perPod * 2 }, (_, i) => (i % 2 === 0 ? a : b).broker.publish(input(room, { pod: i % 2 === 0 ? 'a' : 'b', i }))),
      );
      const [fromA, fromB] = [await seenA.received(room, perPod * 2), await seenB.received(room, perPod * 2)];
      assert.deepEqual(
        fromA.map((p) => p.offset),
        Array.from({ length: perPod * 2 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        fromB.map((p) => p.mid),
        fromA.map((p) => p.mid),
        'both pods see the same publication at each offset',
      );
    });

    test('a pod receives only rooms it subscribed to, and nothing after unsubscribing', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const watched = uniqueRoom('watched');
      const other = uniqueRoom('other');
      await listener.broker.subscribe([watched]);
      await listener.broker.subscribe([watched]); // idempotent
      await publisher.broker.publish(input(other, 'not for me'));
      await publisher.broker.publish(input(watched, 'first'));
      await seen.received(watched, 1);
      await listener.broker.unsubscribe([watched]);
      await listener.broker.unsubscribe([watched]); // idempotent
      await listener.broker.subscribe([other]);
      await publisher.broker.publish(input(watched, 'after unsubscribe'));
      await publisher.broker.publish(input(other, 'marker'));
      await seen.received(other, 1);
      assert.deepEqual(
        seen.publications.map((p) => p.data),
        ['first', 'marker'],
      );
    });

    test('the publishing pod receives its own publications when subscribed', async () => {
      const { engine, seen } = await pod();
      const room = uniqueRoom('self');
      await engine.broker.subscribe([room]);
      await engine.broker.publish(input(room, 'echo'));
      const [pub] = await seen.received(room, 1);
      assert.equal(pub!.data, 'echo');
    });

    test('join and leave events reach every subscribed pod, and are not stored', async () => {
      const { engine: a, seen: seenA } = await pod();
      const { engine: b, seen: seenB } = await pod();
      const { seen: seenC } = await pod();
      const room = uniqueRoom('events');
      await a.broker.subscribe([room]);
      await b.broker.subscribe([room]);
      const alice = member('c-alice', 'alice');
      await a.broker.publishEvent(room, { type: 'join', member: alice });
      await a.broker.publishEvent(room, { type: 'leave', member: alice });
      for (const seen of [seenA, seenB]) {
        await waitFor(() => seen.events.length >= 2, { what: 'two events' });
        assert.deepEqual(seen.events, [
          { room, event: { type: 'join', member: alice } },
          { room, event: { type: 'leave', member: alice } },
        ]);
      }
      assert.equal(seenC.events.length, 0);
      assert.equal((await a.history.position(room)).offset, 0);
    });

    test('presence: add, refresh, list across pods, stats, remove', async () => {
      const { engine: a } = await pod();
      const { engine: b } = await pod();
      const room = uniqueRoom('presence');
      await a.presence.add(room, member('c1', 'alice'));
      await a.presence.add(room, member('c2', 'alice'));
      await b.presence.add(room, { ...member('c3', 'bob'), name: 'Bob' });
      await a.presence.add(room, member('c1', 'alice')); // refresh, not a second entry
      const sorted = (members: Member[]) => [...members].sort((x, y) => x.client.localeCompare(y.client));
      assert.deepEqual(sorted(await b.presence.list(room)), [member('c1', 'alice'), member('c2', 'alice'), { ...member('c3', 'bob'), name: 'Bob' }]);
      assert.deepEqual(await a.presence.stats(room), { clients: 3, users: 2 });
      assert.equal(await b.presence.count(room), 3);
      await b.presence.remove(room, 'c2');
      await b.presence.remove(room, 'never-there');
      assert.deepEqual(sorted(await a.presence.list(room)), [member('c1', 'alice'), { ...member('c3', 'bob'), name: 'Bob' }]);
      assert.deepEqual(await a.presence.stats(uniqueRoom('nobody')), { clients: 0, users: 0 });
      assert.equal(await a.presence.count(uniqueRoom('nobody')), 0);
    });

    test('presence entries expire unless refreshed, and are removed on read', async () => {
      const { engine } = await pod({ presenceTtlMs: 60_000 });
      const room = uniqueRoom('presence-ttl');
      await engine.presence.add(room, member('stale', 'u-stale'));
      await engine.presence.add(room, member('fresh', 'u-fresh'));
      fixture.advance(40_000);
      await engine.presence.add(room, member('fresh', 'u-fresh'));
      fixture.advance(30_000);
      assert.deepEqual(await engine.presence.list(room), [member('fresh', 'u-fresh')]);
      assert.deepEqual(await engine.presence.stats(room), { clients: 1, users: 1 });
      assert.equal(await engine.presence.count(room), 1, 'an expired entry is not counted');
      fixture.advance(60_001);
      assert.deepEqual(await engine.presence.list(room), []);
    });

    test('bad arguments are rejected with BAD_REQUEST and store nothing', async () => {
      const { engine } = await pod();
      const room = uniqueRoom('bad');
      const cases: [string, () => Promise<unknown>][] = [
        ['empty room', () => engine.broker.publish(input('', 1))],
        ['empty mid', () => engine.broker.publish(input(room, 1, { mid: '' }))],
        ['undefined data', () => engine.broker.publish(input(room, undefined))],
        ['negative since', () => engine.history.read(room, { since: -1, limit: 1 })],
        ['fractional limit', () => engine.history.read(room, { limit: 1.5 })],
        ['member without client', () => engine.presence.add(room, { user: 'u', client: '', region: 'r' })],
        ['non-string room in subscribe', () => engine.broker.subscribe([42 as unknown as string])],
      ];
      for (const [what, call] of cases) {
        await assert.rejects(call, (error: unknown) => error instanceof EngineInputError && error.code === 'BAD_REQUEST', what);
      }
      assert.equal((await engine.history.position(room)).offset, 0);
    });

    test('a closed engine rejects calls with UNAVAILABLE and delivers nothing more', async () => {
      const { engine: publisher } = await pod();
      const { engine: listener, seen } = await pod();
      const room = uniqueRoom('closed');
      await listener.broker.subscribe([room]);
      await publisher.broker.publish(input(room, 'before'));
      await seen.received(room, 1);
      assert.equal(listener.healthy(), true);
      await assert.rejects(listener.start(new Recorder()), EngineInputError, 'a second start is a caller error');
      await listener.close();
      await listener.close(); // idempotent
      assert.equal(listener.healthy(), false);
      await assert.rejects(listener.broker.publish(input(room, 'x')), (error: unknown) => error instanceof EngineUnavailableError && error.code === 'UNAVAILABLE');
      await assert.rejects(listener.history.position(room), EngineUnavailableError);
      await publisher.broker.publish(input(room, 'after'));
      const { engine: observer, seen: observerSeen } = await pod();
      await observer.broker.subscribe([room]);
      await publisher.broker.publish(input(room, 'marker'));
      await observerSeen.received(room, 1);
      assert.deepEqual(
        seen.publications.map((p) => p.data),
        ['before'],
      );
    });
  });
}
