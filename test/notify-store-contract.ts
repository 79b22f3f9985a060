/**
 * The NotifyStore contract (gateway/notify/types.ts): one suite every store passes unchanged
 * (memory, redis). Two consumer names play two pods of a region.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Job, Notification, NotifyStore } from '../gateway/notify/types.ts';

function notification(title = 'hello'): Notification {
  return { id: randomUUID(), title, body: 'body', urgency: 'normal', ttlSec: 60, ts: Date.now() };
}

function route(user: string): Job {
  return { kind: 'route', user, n: notification(user), attempt: 0 };
}

export function notifyStoreContract(name: string, create: () => Promise<NotifyStore>): void {
  describe(`notify store contract: ${name}`, () => {
    let store: NotifyStore;
    before(async () => {
      store = await create();
      await store.start();
    });
    after(async () => {
      await store?.close();
    });

    async function drain(consumer: string): Promise<void> {
      for (const entry of await store.read(consumer, 1000, 1)) await store.ack(entry.entryId);
    }

    test('each queued job goes to one consumer; acked jobs are gone from the backlog', async () => {
      await drain('pod-a');
      await store.enqueue([route('u1'), route('u2'), route('u3')]);
      const a = await store.read('pod-a', 2, 10);
      const b = await store.read('pod-b', 10, 10);
      assert.equal(a.length + b.length, 3);
      assert.deepEqual([...a, ...b].map((e) => e.job.user).sort(), ['u1', 'u2', 'u3']);
      for (const entry of [...a, ...b]) await store.ack(entry.entryId);
      assert.equal(await store.backlog(), 0);
    });

    test('a pending entry idle past the claim time moves to another consumer; a fresh one does not', async () => {
      await store.enqueue([route('claimed')]);
      const [entry] = await store.read('pod-dead', 1, 10);
      assert.equal(entry.job.user, 'claimed');
      assert.deepEqual(await store.claimStale('pod-live', 60_000, 10), []);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const claimed = await store.claimStale('pod-live', 20, 10);
      assert.deepEqual(claimed.map((e) => e.job.user), ['claimed']);
      await store.ack(claimed[0].entryId);
      assert.equal(await store.backlog(), 0);
    });

    test('defer acks and schedules in one step; due jobs come back once', async () => {
      await store.enqueue([route('later')]);
      const [entry] = await store.read('pod-a', 1, 10);
      const due = Date.now() + 1000;
      await store.defer(entry.entryId, { ...entry.job, attempt: 1 }, due);
      assert.equal(await store.backlog(), 1, 'scheduled, not pending');
      assert.equal(await store.promoteDue(due - 1, 10), 0);
      assert.equal(await store.promoteDue(due, 10), 1);
      assert.equal(await store.promoteDue(due, 10), 0, 'moved once');
      const [back] = await store.read('pod-b', 10, 10);
      assert.equal(back.job.user, 'later');
      assert.equal(back.job.attempt, 1);
      await store.ack(back.entryId);
    });

    test('dead letters keep the newest up to the bound', async () => {
      for (const user of ['d1', 'd2', 'd3']) {
        await store.enqueue([route(user)]);
        const [entry] = await store.read('pod-a', 1, 10);
        await store.deadLetter(entry.entryId, { job: entry.job, reason: `failed ${user}`, at: Date.now() }, 2);
      }
      const letters = await store.deadLetters(10);
      assert.deepEqual(letters.map((l) => l.job.user), ['d3', 'd2']);
      assert.equal(await store.backlog(), 0);
    });

    test('a send id is first once; a lease has one holder and a done mark outlives it', async () => {
      const id = randomUUID();
      assert.equal(await store.firstSend(id, 60_000), true);
      assert.equal(await store.firstSend(id, 60_000), false);
      const key = `${id}:email:a@x`;
      assert.equal(await store.begin(key, 60_000), 'acquired');
      assert.equal(await store.begin(key, 60_000), 'busy');
      await store.release(key);
      assert.equal(await store.begin(key, 60_000), 'acquired');
      await store.complete(key, 60_000);
      assert.equal(await store.begin(key, 60_000), 'done');
      await store.release(key);
      assert.equal(await store.begin(key, 60_000), 'done', 'release never removes a done mark');
    });

    test('settings, bounded push subscriptions, followers, collapse keys, digests and rate counts', async () => {
      const user = `user-${randomUUID()}`;
      await store.setEmail(user, 'a@x.org');
      await store.setPreferences(user, { channels: { high: ['push'], normal: [], low: [], 'very-low': [] }, digest: false });
      const sub = (id: string) => ({ id, endpoint: `https://push.example/${id}`, keys: { p256dh: 'p', auth: 'a' }, createdAt: 1 });
      assert.equal(await store.addPush(user, sub('s1'), 2), true);
      assert.equal(await store.addPush(user, sub('s2'), 2), true);
      assert.equal(await store.addPush(user, sub('s3'), 2), false, 'bound');
      assert.equal(await store.addPush(user, sub('s2'), 2), true, 'replacing one is not a new one');
      assert.equal(await store.removePush(user, 's1'), true);
      assert.equal(await store.removePush(user, 's1'), false);
      const settings = await store.settings(user);
      assert.equal(settings.email, 'a@x.org');
      assert.equal(settings.preferences?.digest, false);
      assert.deepEqual(settings.push.map((s) => s.id), ['s2']);
      await store.setEmail(user, undefined);
      assert.equal((await store.settings(user)).email, undefined);

      const room = `room-${randomUUID()}`;
      assert.equal(await store.follow(room, 'f1', 2), true);
      assert.equal(await store.follow(room, 'f2', 2), true);
      assert.equal(await store.follow(room, 'f3', 2), false);
      await store.unfollow(room, 'f1');
      assert.deepEqual(await store.followers(room, 10), ['f2']);

      await store.setCollapse(user, 'k', 'n1', 60_000);
      await store.setCollapse(user, 'k', 'n2', 60_000);
      assert.equal(await store.collapsed(user, 'k'), 'n2');
      assert.equal(await store.collapsed(user, 'other'), undefined);

      assert.equal(await store.addToDigest(user, notification('one'), 2), true, 'opens a digest');
      assert.equal(await store.addToDigest(user, notification('two'), 2), false);
      assert.equal(await store.addToDigest(user, notification('three'), 2), false);
      assert.deepEqual((await store.takeDigest(user)).map((n) => n.title), ['two', 'three'], 'the newest are kept');
      assert.deepEqual(await store.takeDigest(user), []);

      assert.equal(await store.countSend(user, 0, 60_000), 1);
      assert.equal(await store.countSend(user, 0, 60_000), 2);
      assert.equal(await store.countSend(user, 60_000, 60_000), 1, 'a new window counts from one');
    });
  });
}
