/**
 * The frame parser against arbitrary input: every input yields a command or a BAD_REQUEST
 * naming the problem, never another exception; and random frames sent to a live gateway leave
 * it serving. Classes of hostile input are generated, not listed: deep and wide structures
 * (nesting at and past limits.maxJsonDepth, brackets inside strings), and room names in the
 * reserved personal-room namespace. Inputs come from a seeded generator, so a failure reproduces.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../gateway/errors.ts';
import { nestsDeeperThan, ops, parseFrame } from '../gateway/protocol.ts';
import { personalRoom, RoomAccess } from '../gateway/rooms.ts';
import { startGateway } from './helpers/gateway.ts';

/** mulberry32: a small seeded PRNG. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, values: readonly T[]): T {
  return values[Math.floor(rand() * values.length)];
}

const oddValues: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 60, '', 'x', 'math-101', 'bad room', '*', [], [1], {}, { epoch: 'e', offset: 1 }, { epoch: 1 }, 'é'.repeat(300)];
const fields = ['op', 'id', 'room', 'data', 'token', 'recover', 'limit', 'since', 'mid', 'task', 'input', '__proto__', 'constructor'];

function randomFrame(rand: () => number): string {
  const kind = rand();
  if (kind < 0.2) {
    // Raw noise, including invalid JSON and control characters.
    return Array.from({ length: Math.floor(rand() * 60) }, () => String.fromCharCode(Math.floor(rand() * 0x2fff))).join('');
  }
  if (kind < 0.3) return pick(rand, ['null', '[]', '"op"', '1e999', '{"op":', '{}', '{"op":null}', '{"id":1e400,"op":"ping"}']);
  const frame: Record<string, unknown> = {};
  if (rand() < 0.9) frame.op = rand() < 0.8 ? pick(rand, ops) : pick(rand, oddValues);
  for (let i = 0; i < Math.floor(rand() * 5); i += 1) frame[pick(rand, fields)] = pick(rand, oddValues);
  if (rand() < 0.1) frame.data = JSON.parse('{"a":'.repeat(200) + '1' + '}'.repeat(200));
  return JSON.stringify(frame);
}

/** A random JSON value with its true nesting depth: deep chains, wide fan-outs, strings full of brackets. */
function randomStructure(rand: () => number, budget: { nodes: number }, depthLeft: number): { text: string; depth: number } {
  budget.nodes -= 1;
  const leafKind = rand();
  if (depthLeft <= 0 || budget.nodes <= 0 || leafKind < 0.15) {
    if (leafKind < 0.05) return { text: JSON.stringify('[{'.repeat(Math.floor(rand() * 50)) + '\\"]}'), depth: 0 };
    return { text: JSON.stringify(pick(rand, [1, 'x', null, true, '}}]]', '\\', '"[[['])), depth: 0 };
  }
  // Mostly one child (a deep chain), sometimes many (a wide level).
  const width = rand() < 0.8 ? 1 : 1 + Math.floor(rand() * 20);
  const children = Array.from({ length: width }, () => randomStructure(rand, budget, depthLeft - 1));
  const depth = 1 + Math.max(...children.map((c) => c.depth));
  if (rand() < 0.5) return { text: `[${children.map((c) => c.text).join(',')}]`, depth };
  return { text: `{${children.map((c, i) => `"k${i}[{":${c.text}`).join(',')}}`, depth };
}

describe('protocol parser', () => {
  it('refuses every frame nested past limits.maxJsonDepth and accepts every one within it (2,000 deep and wide structures)', () => {
    const rand = random(64);
    const maxJsonDepth = 16;
    const limits = { maxRoomNameLength: 200, maxHistoryLimit: 300, maxJsonDepth };
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 2000; i += 1) {
      const data = randomStructure(rand, { nodes: 400 }, Math.floor(rand() * 40));
      const field = pick(rand, ['data', 'recover', 'input', 'token', 'extra']);
      const text = `{"id":${i},"op":"publish","room":"r","data":1,"${field}":${data.text}}`;
      const frameDepth = 1 + data.depth;
      assert.equal(nestsDeeperThan(text, maxJsonDepth), frameDepth > maxJsonDepth, text.slice(0, 200));
      const result = parseFrame(text, limits);
      if (frameDepth > maxJsonDepth) {
        refused += 1;
        assert.equal(result.ok, false);
        if (!result.ok) {
          assert.equal(result.error.code, 'BAD_REQUEST');
          assert.match(result.error.message, /limits\.maxJsonDepth/);
          assert.equal(result.id, i, 'the refusal carries the id');
        }
      } else if (field === 'data' || field === 'extra' || field === 'token') {
        accepted += 1;
        assert.equal(result.ok, true, text.slice(0, 200));
        if (result.ok && result.command.op === 'publish') assert.equal(typeof JSON.stringify(result.command.data), 'string', 'what is accepted encodes again');
      }
    }
    assert.ok(refused > 200 && accepted > 200, `both sides of the limit were generated (refused ${refused}, accepted ${accepted})`);
  });

  it('gives every user exactly its own room in the reserved user: namespace (5,000 random subs and rooms)', () => {
    const rand = random(11);
    const alphabet = ['a', 'b', ':', '@', '3', 'A', '-', '.', '_', 'é', ' ', '%', '*', 'user:'];
    const randomSub = () => Array.from({ length: 1 + Math.floor(rand() * 8) }, () => pick(rand, alphabet)).join('');
    const owners = new Map<string, string>();
    for (let i = 0; i < 5000; i += 1) {
      const sub = randomSub();
      const room = personalRoom(sub);
      const previous = owners.get(room);
      assert.ok(previous === undefined || previous === sub, `${JSON.stringify(sub)} and ${JSON.stringify(previous)} share ${room}`);
      owners.set(room, sub);
      const other = randomSub();
      const access = new RoomAccess(sub, pick(rand, [['*'], ['user:*'], ['u*'], [`user:${other}*`.replace(/[^A-Za-z0-9_.:@*-]/g, '')], []]));
      assert.equal(access.allows(room), true, `${JSON.stringify(sub)} reaches ${room}`);
      if (other !== sub) assert.equal(access.allows(personalRoom(other)), false, `${JSON.stringify(sub)} must not reach ${personalRoom(other)}`);
      assert.equal(access.allows(`user:${other}`) && `user:${other}` !== room, false, `${JSON.stringify(sub)} must not reach user:${other}`);
    }
  });

  it('turns 20,000 random inputs into a command or a BAD_REQUEST, never a crash', () => {
    const rand = random(20261125);
    const limits = { maxRoomNameLength: 200, maxHistoryLimit: 300, maxJsonDepth: 64 };
    let commands = 0;
    for (let i = 0; i < 20_000; i += 1) {
      const text = randomFrame(rand);
      const result = parseFrame(text, limits);
      if (result.ok) {
        commands += 1;
        assert.ok(ops.includes(result.command.op), text);
      } else {
        assert.ok(result.error instanceof GatewayError, text);
        assert.equal(result.error.code, 'BAD_REQUEST', text);
        assert.ok(result.error.message.length > 0 && result.error.message.length < 300, text);
      }
    }
    assert.ok(commands > 100, `some random frames are valid commands (${commands})`);
  });

  it('a live gateway answers random frames and keeps serving', async () => {
    const gw = await startGateway({ limits: { violationsBeforeClose: 1000 } });
    try {
      const rand = random(7);
      const fuzzer = await gw.client('fuzzer');
      const bystander = await gw.client('bystander');
      await bystander.request({ op: 'subscribe', room: 'calm' });
      for (let i = 0; i < 500; i += 1) fuzzer.send(randomFrame(rand));
      // Deep and wide structures, past and within the default limit, as whole frames.
      for (let i = 0; i < 100; i += 1) fuzzer.send(`{"op":"publish","room":"calm-fuzz","data":${randomStructure(rand, { nodes: 300 }, Math.floor(rand() * 200)).text}}`);
      const pong = await fuzzer.request({ op: 'ping' }, 30_000);
      assert.equal(pong.op, 'pong');
      await fuzzer.request({ op: 'publish', room: 'calm', data: 'after the noise' });
      await bystander.waitFrame((f) => f.op === 'message' && f.data === 'after the noise');
      assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
    } finally {
      await gw.close();
    }
  });
});
