/**
 * What a hostile client costs the gateway, measured against a gateway process built from any
 * tree (so a fix can be measured before and after):
 *
 *   node bench/abuse.ts [history|churn|rooms|all] [--meridian DIR]
 *
 * - history: 128 `history` commands (limit 300) from one connection for a room of 300 × 60 KB
 *   messages, gateway on a real redis-server. Peak Redis used_memory and client output buffer
 *   (CLIENT LIST omem), peak gateway RSS, and a bystander's publish→receive round trips.
 * - churn: one connection subscribing/unsubscribing in a room of 150 members (memory engine) for
 *   5 s, flat out and paced under the default subscribe rate; join/leave pushes per second one
 *   member receives, and the churner's fate.
 * - rooms: 10 connections of one user publishing 8 KB into new rooms at the publish rate limit
 *   for 15 s (memory engine); gateway RSS before and after, publishes accepted and refused.
 *
 * Each scenario prints one JSON line. The gateway runs as its own process; the clients share
 * this one (2-core machine: read the figures as orders of magnitude, not as fine ratios).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { mintToken } from './lib/jwt.ts';
import { LatencyHistogram } from './lib/stats.ts';

const secret = 'bench-secret-that-is-long-enough-for-hs256';
const apiKey = 'bench-api-key';
const MiB = 1024 * 1024;

type Frame = Record<string, any>;

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

class Client {
  readonly frames: Frame[] = [];
  closeCode?: number;
  private nextId = 1;
  private readonly waiters = new Map<number, (f: Frame) => void>();
  onFrame?: (f: Frame) => void;
  readonly ws: WebSocket;
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (typeof frame.id === 'number' && this.waiters.has(frame.id)) {
        this.waiters.get(frame.id)!(frame);
        this.waiters.delete(frame.id);
      }
      this.onFrame?.(frame);
    });
    ws.on('close', (code) => (this.closeCode = code));
  }
  static async connect(url: string, user: string): Promise<Client> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((r, f) => (ws.once('open', r), ws.once('error', f)));
    const client = new Client(ws);
    const reply = await client.request({ op: 'connect', token: await mintToken({ secret, user }) });
    if (reply.op !== 'connected') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    return client;
  }
  send(frame: Frame): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }
  request(frame: Frame): Promise<Frame> {
    const id = this.nextId++;
    return new Promise((r) => {
      this.waiters.set(id, r);
      this.send({ id, ...frame });
    });
  }
}

interface Gateway {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function startGateway(meridian: string, config: Record<string, unknown>): Promise<Gateway> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'meridian-abuse-'));
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port, jwt: { secret }, apiKey, logLevel: 'error', ...config }));
  const child = spawn(process.execPath, [join(meridian, 'bin/meridian.ts'), 'gateway', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true, 20_000, 'the gateway');
  return {
    port,
    process: child,
    stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGKILL')))),
  };
}

async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  probe.on('error', () => {}); // refused until redis-server listens: retried below
  await until(async () => probe.status === 'ready' || (await probe.connect().then(() => true).catch(() => false)), 10_000, 'redis-server');
  probe.disconnect();
  return { url, stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) };
}

/** Publish→receive round trips of a bystander, one every 20 ms, until `stop()`. */
function bystanderLoop(client: Client, room: string): { stop(): Promise<{ count: number; lost: number; p50Ms: number; p99Ms: number; maxMs: number }> } {
  const histogram = new LatencyHistogram();
  let running = true;
  let lost = 0;
  const loop = (async () => {
    for (let n = 0; running; n += 1) {
      const started = process.hrtime.bigint();
      const got = new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(false), 10_000);
        client.onFrame = (f) => {
          if (f.op === 'message' && f.room === room && f.data === n) {
            clearTimeout(timer);
            r(true);
          }
        };
      });
      client.send({ op: 'publish', room, data: n });
      if (await got) histogram.record(Number(process.hrtime.bigint() - started) / 1000);
      else lost += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ...histogram.summary(), lost };
    },
  };
}

async function historyScenario(meridian: string): Promise<Record<string, unknown>> {
  const redis = await startRedis();
  const gw = await startGateway(meridian, { redisUrl: redis.url, limits: { publishRatePerSec: 1000, publishBurst: 1000 } });
  const probe = new Redis(redis.url);
  try {
    const chunk = 'v'.repeat(60 * 1024);
    for (let n = 1; n <= 300; n += 1) {
      await fetch(`http://127.0.0.1:${gw.port}/v1/publish`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ room: 'vault', data: { n, chunk } }) });
    }
    const url = `ws://127.0.0.1:${gw.port}/v1/ws`;
    const bystander = await Client.connect(url, 'bystander');
    await bystander.request({ op: 'subscribe', room: 'calm' });
    const used = async () => Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]);
    const usedBefore = await used();
    const rssBefore = rss(gw.process.pid!);
    let peakUsed = usedBefore;
    let peakOmem = 0;
    let peakRss = rssBefore;
    const rounds = bystanderLoop(bystander, 'calm');
    const sample = async (): Promise<void> => {
      peakUsed = Math.max(peakUsed, await used());
      peakOmem = Math.max(peakOmem, ...[...((await probe.client('LIST')) as string).matchAll(/omem=(\d+)/g)].map((m) => Number(m[1])));
      peakRss = Math.max(peakRss, rss(gw.process.pid!));
    };
    const result: Record<string, unknown> = { scenario: 'history', redisUsedBeforeMiB: +(usedBefore / MiB).toFixed(1), gatewayRssBeforeMiB: +(rssBefore / MiB).toFixed(0) };
    // `burst`: all 128 at once. `windowed`: 128 in all, a new one whenever an answer comes, 4 outstanding.
    for (const mode of ['burst', 'windowed'] as const) {
      const attacker = await Client.connect(url, `attacker-${mode}`);
      let replies = 0;
      let errors = 0;
      let replyBytes = 0;
      let sent = 0;
      const sendOne = (): void => {
        if (sent < 128) attacker.send({ id: 1000 + sent++, op: 'history', room: 'vault', limit: 300, since: 0 });
      };
      attacker.onFrame = (f) => {
        if (f.op === 'history') {
          replies += 1;
          replyBytes += Buffer.byteLength(JSON.stringify(f));
        } else if (f.op === 'error') errors += 1;
        if (mode === 'windowed' && (f.op === 'history' || f.op === 'error')) sendOne();
      };
      for (let i = 0; i < (mode === 'burst' ? 128 : 4); i += 1) sendOne();
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && attacker.closeCode === undefined && replies + errors < 128) await sample();
      result[mode] = { replies, errors, replyMiB: +(replyBytes / MiB).toFixed(1), close: attacker.closeCode ?? null };
      attacker.ws.terminate();
    }
    await sample();
    bystander.ws.terminate();
    return {
      ...result,
      redisUsedPeakMiB: +(peakUsed / MiB).toFixed(1),
      redisOmemPeakMiB: +(peakOmem / MiB).toFixed(1),
      gatewayRssPeakMiB: +(peakRss / MiB).toFixed(0),
      bystanderRoundTrips: await rounds.stop(),
    };
  } finally {
    probe.disconnect();
    await gw.stop();
    await redis.stop();
  }
}

/**
 * One member's join/leave pushes per second while another connection churns in the room:
 * `flat-out` waits only for each reply (as fast as the gateway answers), `paced` stays under the
 * default subscribe rate (20 commands/s, so metering alone does not stop it).
 */
async function churnScenario(meridian: string): Promise<Record<string, unknown>> {
  const gw = await startGateway(meridian, {});
  try {
    const url = `ws://127.0.0.1:${gw.port}/v1/ws`;
    const members: Client[] = [];
    for (let i = 0; i < 150; i += 1) {
      const member = await Client.connect(url, `member-${i}`);
      await member.request({ op: 'subscribe', room: 'crowd' });
      members.push(member);
    }
    const watcher = members[0];
    let pushes = 0;
    watcher.onFrame = (f) => {
      if (f.op === 'join' || f.op === 'leave') pushes += 1;
    };
    const result: Record<string, unknown> = { scenario: 'churn', members: 150 };
    for (const mode of ['flat-out', 'paced'] as const) {
      await new Promise((r) => setTimeout(r, 1500)); // earlier pushes delivered, windows ended
      const churner = await Client.connect(url, `churner-${mode}`);
      const startPushes = pushes;
      let served = 0;
      let refused = 0;
      const started = Date.now();
      while (Date.now() - started < 5000 && churner.closeCode === undefined) {
        for (const op of ['subscribe', 'unsubscribe']) {
          const reply = await Promise.race([churner.request({ op, room: 'crowd' }), new Promise<Frame>((r) => setTimeout(() => r({ op: 'error', code: 'NO_REPLY' }), 2000))]);
          if (reply.op === 'error') refused += 1;
          else served += 1;
          if (mode === 'paced') await new Promise((r) => setTimeout(r, 55));
        }
      }
      const churnedMs = Date.now() - started;
      await new Promise((r) => setTimeout(r, 1200)); // pushes in flight, and the last window's end
      result[mode] = {
        churnSeconds: +(churnedMs / 1000).toFixed(2),
        served,
        refused,
        close: churner.closeCode ?? null,
        watcherPushes: pushes - startPushes,
        watcherPushesPerSec: Math.round((pushes - startPushes) / (churnedMs / 1000)),
      };
      churner.ws.terminate();
    }
    for (const c of members) c.ws.terminate();
    return result;
  } finally {
    await gw.stop();
  }
}

async function roomsScenario(meridian: string): Promise<Record<string, unknown>> {
  const gw = await startGateway(meridian, {});
  try {
    const url = `ws://127.0.0.1:${gw.port}/v1/ws`;
    const conns = await Promise.all(Array.from({ length: 10 }, () => Client.connect(url, 'creator')));
    const rssBefore = rss(gw.process.pid!);
    let peakRss = rssBefore;
    let accepted = 0;
    const refusedByCode: Record<string, number> = {};
    const pad = 'r'.repeat(8 * 1024);
    const started = Date.now();
    let n = 0;
    // Each connection publishes at its limit (50/s) into a new room each time.
    await Promise.all(
      conns.map(async (conn, c) => {
        while (Date.now() - started < 15_000 && conn.closeCode === undefined) {
          const reply = await conn.request({ op: 'publish', room: `new-${c}-${n++}`, data: pad });
          if (reply.op === 'published') accepted += 1;
          else refusedByCode[reply.code] = (refusedByCode[reply.code] ?? 0) + 1;
          peakRss = Math.max(peakRss, rss(gw.process.pid!));
          await new Promise((r) => setTimeout(r, 20));
        }
      }),
    );
    for (const c of conns) c.ws.terminate();
    return {
      scenario: 'rooms',
      seconds: 15,
      connections: 10,
      published: accepted,
      refused: refusedByCode,
      gatewayRssBeforeMiB: +(rssBefore / MiB).toFixed(0),
      gatewayRssPeakMiB: +(peakRss / MiB).toFixed(0),
    };
  } finally {
    await gw.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--meridian');
  const meridian = resolve(at >= 0 ? argv[at + 1] : new URL('..', import.meta.url).pathname);
  const which = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--meridian') ?? 'all';
  const scenarios: Record<string, (dir: string) => Promise<Record<string, unknown>>> = { history: historyScenario, churn: churnScenario, rooms: roomsScenario };
  for (const name of which === 'all' ? Object.keys(scenarios) : [which]) {
    if (!scenarios[name]) throw new Error(`unknown scenario ${name}; expected history, churn, rooms or all`);
    process.stdout.write(JSON.stringify({ meridian, ...(await scenarios[name](meridian)) }) + '\n');
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
