/**
 * Generated abuse against a live gateway: several users' connections send seeded random bursts
 * of subscribe, unsubscribe, history, publish and presence over a pool of shared and fresh
 * rooms, without waiting for replies. Whatever the mix, every command gets one answer with a
 * registered code, and the classes of amplification stay within their bounds: history replies
 * within limits.historyReplyBytes, rooms per user per minute, rooms held by the gateway, and
 * join/leave pushes to a member of a churned room.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCodes } from '../gateway/errors.ts';
import { startGateway, type Frame, type TestClient } from './helpers/gateway.ts';
import { pick, seeded } from './helpers/random.ts';

const limits = {
  roomsPerUserPerMinute: 30,
  subscribeBurst: 40,
  historyReadsPerConnection: 2,
  historyReplyBytes: 16_384,
  // Generous, so fan-out of the fuzzers' own publishes never closes one as a slow consumer (4008
  // depends on scheduling, and is tested on its own in gateway-limits).
  outboundQueueBytes: 8_388_608,
  publishRatePerSec: 1000,
  publishBurst: 1000,
  violationsBeforeClose: 100_000,
};

function randomCommand(rand: () => number, n: number): Frame {
  const room = rand() < 0.5 ? pick(rand, ['crowd', 'hall', 'stage', 'annex']) : `fresh-${Math.floor(rand() * 400)}`;
  const op = pick(rand, ['subscribe', 'unsubscribe', 'unsubscribe', 'subscribe', 'history', 'publish', 'presence']);
  const frame: Frame = { id: n, op, room };
  if (op === 'history') {
    if (rand() < 0.7) frame.limit = 1 + Math.floor(rand() * 300);
    if (rand() < 0.5) frame.since = Math.floor(rand() * 50);
  }
  if (op === 'publish') frame.data = { n, pad: 'p'.repeat(Math.floor(rand() * 8192)) };
  return frame;
}

describe('generated abuse', () => {
  it('3 users × 2 connections, 2,376 random commands in bursts of 33: one registered answer each, every bound held', async () => {
    const gw = await startGateway({ limits, presence: { eventWindowMs: 60_000 } });
    try {
      const rand = seeded(9);
      const member = await gw.client('member');
      await member.request({ op: 'subscribe', room: 'crowd' });
      const fuzzers: { user: string; client: TestClient }[] = [];
      for (const user of ['ann', 'bob', 'cy']) for (let i = 0; i < 2; i += 1) fuzzers.push({ user, client: await gw.client(user) });
      const sent = new Map<TestClient, Frame[]>();
      let n = 10_000;
      for (let burst = 0; burst < 12; burst += 1) {
        for (const { client } of fuzzers) {
          const frames = Array.from({ length: 33 }, () => randomCommand(rand, n++));
          for (const frame of frames) client.send(frame);
          sent.set(client, [...(sent.get(client) ?? []), ...frames]);
        }
        await Promise.all(fuzzers.map(({ client }) => client.request({ op: 'ping' }, 30_000)));
      }

      const roomsByUser = new Map<string, Set<string>>();
      for (const { user, client } of fuzzers) {
        for (const frame of sent.get(client)!) {
          const answers = client.frames.filter((f) => f.id === frame.id);
          assert.equal(answers.length, 1, `one answer to ${JSON.stringify(frame).slice(0, 120)}`);
          const answer = answers[0];
          if (answer.op === 'error') {
            assert.ok(answer.code in errorCodes, answer.code);
            continue;
          }
          if (frame.op !== 'unsubscribe') {
            const rooms = roomsByUser.get(user) ?? new Set();
            rooms.add(frame.room);
            roomsByUser.set(user, rooms);
          }
          if (answer.op === 'history') {
            assert.ok(Buffer.byteLength(JSON.stringify(answer)) <= limits.historyReplyBytes + 1024, 'a history reply within its budget');
          }
        }
        assert.ok(!client.frames.some((f) => f.op === '__socket_error__'));
        assert.equal(client.ws.readyState, client.ws.OPEN, `${user}'s connection is still open`);
      }
      for (const [user, rooms] of roomsByUser) assert.ok(rooms.size <= limits.roomsPerUserPerMinute, `${user} used ${rooms.size} rooms`);
      assert.ok(gw.gateway.hub.roomCount <= 3 * limits.roomsPerUserPerMinute + 1, `rooms held: ${gw.gateway.hub.roomCount}`);
      // The member of the churned room: its own join went out at once, everything after waits
      // for the window's end (60 s), so the churn cost it at most that one push.
      const pushes = member.frames.filter((f) => f.op === 'join' || f.op === 'leave');
      assert.ok(pushes.length <= 1, `${pushes.length} join/leave pushes to a member of the churned room`);
      const refusedCodes = new Set(fuzzers.flatMap(({ client }) => client.frames.filter((f) => f.op === 'error').map((f) => f.code)));
      for (const code of ['RATE_LIMITED', 'LIMIT_EXCEEDED']) assert.ok(refusedCodes.has(code), `the mix reached ${code}`);
      assert.equal((await member.request({ op: 'ping' })).op, 'pong');
    } finally {
      await gw.close();
    }
  });
});
