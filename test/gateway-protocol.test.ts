/**
 * The frame parser against arbitrary input: every input yields a command or a BAD_REQUEST
 * naming the problem, never another exception; and random frames sent to a live gateway leave
 * it serving. Inputs come from a seeded generator, so a failure reproduces.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../gateway/errors.ts';
import { ops, parseFrame } from '../gateway/protocol.ts';
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

describe('protocol parser', () => {
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
