/**
 * Bad input by class rather than by instance: requests that are cheap to send but costly to
 * serve (amplification), subscribe/unsubscribe churn that multiplies into pushes to every
 * member, and unbounded creation of rooms. Each class meets a named bound with a documented
 * code, and a bystander keeps being served. (Large history replies and recovery have their
 * own scenarios in gateway-history-paging and gateway-history-redis.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, TestClient, type Frame, type TestGateway } from './helpers/gateway.ts';

const isPresencePush = (f: Frame): boolean => f.op === 'join' || f.op === 'leave';

async function bystanderServed(gw: TestGateway, bystander: TestClient, text: string): Promise<void> {
  const ack = await bystander.request({ op: 'publish', room: 'quiet', data: text });
  assert.equal(ack.op, 'published');
  await bystander.waitFrame((f) => f.op === 'message' && f.data === text);
  assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
}

describe('subscribe/unsubscribe churn', () => {
  it('is metered: past the bucket it answers RATE_LIMITED, and churning on closes with 4400', async () => {
    const gw = await startGateway({ limits: { subscribeRatePerSec: 1, subscribeBurst: 10, violationsBeforeClose: 5, violationWindowMs: 60_000 } });
    try {
      const bystander = await gw.client('bystander');
      await bystander.request({ op: 'subscribe', room: 'quiet' });
      const churner = await gw.client('churner');
      for (let i = 0; i < 40; i += 1) churner.send({ id: 1000 + i, op: i % 2 === 0 ? 'subscribe' : 'unsubscribe', room: 'lobby' });
      const { code } = await churner.closed;
      assert.equal(code, 4400);
      const limited = churner.frames.filter((f) => f.code === 'RATE_LIMITED');
      assert.ok(limited.length >= 4, `RATE_LIMITED before the close (${limited.length})`);
      assert.match(limited[0].message, /subscribe\/unsubscribe rate above 1\/s/);
      const served = churner.frames.filter((f) => f.op === 'subscribed' || f.op === 'unsubscribed');
      assert.ok(served.length <= 10, `no more than the burst was served (${served.length})`);
      await bystanderServed(gw, bystander, 'after the churn');
    } finally {
      await gw.close();
    }
  });

  it('in a room of 150 members, 50 subscribe/unsubscribe cycles of one client cost a bystander member at most one push per window', async () => {
    // One long window: every push after the first one in the room waits for its end.
    const gw = await startGateway({ presence: { eventWindowMs: 60_000 }, limits: { subscribeBurst: 1000 } });
    try {
      const members: TestClient[] = [];
      for (let i = 0; i < 150; i += 1) {
        const member = await gw.client(`member-${i}`);
        await member.request({ op: 'subscribe', room: 'crowd' });
        members.push(member);
      }
      const bystander = members[0];
      const churner = await gw.client('churner');
      const before = bystander.frames.filter(isPresencePush).length;
      for (let i = 0; i < 50; i += 1) {
        assert.equal((await churner.request({ op: 'subscribe', room: 'crowd' })).op, 'subscribed');
        assert.equal((await churner.request({ op: 'unsubscribe', room: 'crowd' })).op, 'unsubscribed');
      }
      // A message published after the churn reaches the bystander after every event the churn made.
      await churner.request({ op: 'publish', room: 'crowd', data: 'sentinel' });
      await bystander.waitFrame((f) => f.op === 'message' && f.data === 'sentinel');
      const pushes = bystander.frames.filter(isPresencePush).length - before;
      assert.ok(pushes <= 1, `${pushes} join/leave pushes for 100 churn events (uncoalesced: 100)`);
      await Promise.all([...members, churner].map((c) => c.close()));
    } finally {
      await gw.close();
    }
  });

  it('changes held back by the window still arrive, at its end', async () => {
    const gw = await startGateway({ presence: { eventWindowMs: 200 } });
    try {
      const watcher = await gw.client('watcher');
      await watcher.request({ op: 'subscribe', room: 'den' });
      const visitor = await gw.client('visitor');
      await visitor.request({ op: 'subscribe', room: 'den' });
      // The watcher's own join opened the room's window; the visitor's join arrives at once or at its end.
      await watcher.waitFrame((f) => f.op === 'join' && f.member.user === 'visitor');
      await visitor.request({ op: 'unsubscribe', room: 'den' });
      await watcher.waitFrame((f) => f.op === 'leave' && f.member.user === 'visitor');
      const pushes = watcher.frames.filter((f) => isPresencePush(f) && f.member.user === 'visitor');
      assert.deepEqual(
        pushes.map((f) => f.op),
        ['join', 'leave'],
      );
      await Promise.all([watcher.close(), visitor.close()]);
    } finally {
      await gw.close();
    }
  });
});

describe('unbounded room creation', () => {
  it("one user's connections naming rooms past limits.roomsPerUserPerMinute get LIMIT_EXCEEDED, with every op; others are unaffected", async () => {
    const gw = await startGateway({ limits: { roomsPerUserPerMinute: 20, publishRatePerSec: 1000, publishBurst: 1000, violationsBeforeClose: 1000 } });
    try {
      const bystander = await gw.client('bystander');
      await bystander.request({ op: 'subscribe', room: 'quiet' });
      const spammer = await Promise.all([gw.client('spammer'), gw.client('spammer'), gw.client('spammer')]);
      const ops: Array<(room: string) => Frame> = [
        (room) => ({ op: 'publish', room, data: 'x' }),
        (room) => ({ op: 'subscribe', room }),
        (room) => ({ op: 'history', room }),
        (room) => ({ op: 'presence', room }),
      ];
      const outcomes: Frame[] = [];
      for (let i = 0; i < 60; i += 1) outcomes.push(await spammer[i % 3].request(ops[i % ops.length](`fresh-${i}`)));
      const refused = outcomes.filter((f) => f.op === 'error');
      assert.equal(outcomes.length - refused.length, 20, 'the first 20 rooms over all three connections');
      assert.ok(refused.every((f) => f.code === 'LIMIT_EXCEEDED'), JSON.stringify(refused[0]));
      assert.match(refused[0].message, /20 rooms per minute/);
      // A room the user already named this minute keeps working.
      assert.equal((await spammer[2].request({ op: 'publish', room: 'fresh-0', data: 'again' })).op, 'published');
      // Another user names new rooms freely.
      const other = await gw.client('other');
      for (let i = 0; i < 20; i += 1) assert.equal((await other.request({ op: 'publish', room: `other-${i}`, data: i })).op, 'published');
      await bystanderServed(gw, bystander, 'unaffected');
      // Reconnecting does not reset the window.
      await Promise.all(spammer.map((c) => c.close()));
      const again = await gw.client('spammer');
      assert.equal((await again.request({ op: 'publish', room: 'fresh-new', data: 'x' })).code, 'LIMIT_EXCEEDED');
    } finally {
      await gw.close();
    }
  });
});
