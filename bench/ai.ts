/**
 * `npm run bench -- ai`: what the AI routing costs.
 *
 * 1. Router decision time: `Router.route()` with three providers holding full latency windows,
 *    timed one call at a time (µs).
 * 2. Gateway overhead: time to first token and to last token of a streamed chat answer through
 *    the gateway's WebSocket (client → gateway → openai SDK → fake server and back), against the
 *    openai SDK called directly against the same fake server. Requests go in A/B pairs, one
 *    direct and one through the gateway back to back, the first of the pair alternating, so both
 *    paths meet the same moment's noise; the per-pair difference is what the gateway adds.
 * 3. The offline `local` provider's time per call, per task.
 *
 * Layout (3 processes): the fake OpenAI server, the gateway (`meridian gateway`, memory engine,
 * its log to /dev/null) and this one, which runs both clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import WebSocket from 'ws';
import { parseAiConfig } from '../gateway/ai/config.ts';
import { buildMessages } from '../gateway/ai/prompts.ts';
import { createProviders, LocalProvider } from '../gateway/ai/providers/index.ts';
import { Router } from '../gateway/ai/router.ts';
import type { AiTask } from '../gateway/ai/types.ts';
import { signDevToken } from '../gateway/auth.ts';
import { freePort, waitFor } from '../test/helpers/net.ts';
import { portOpen } from '../test/helpers/services.ts';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { machineInfo, markdownTable, rotate, sourceInfo, writeResult } from './lib/results.ts';

export const aiOptions: Record<string, OptionSpec> = {
  decisions: { kind: 'int', default: 100_000, quick: 10_000, doc: 'router decisions timed' },
  requests: { kind: 'int', default: 300, quick: 30, doc: 'A/B pairs per round (one direct and one through the gateway each)' },
  rounds: { kind: 'int', default: 3, quick: 1, doc: 'rounds of A/B pairs; the first path alternates pair by pair and round by round' },
  chunks: { kind: 'int', default: 20, doc: 'chunks in each streamed answer' },
  'local-calls': { kind: 'int', default: 500, quick: 50, doc: 'calls per task to the local provider' },
  quick: { kind: 'bool', default: false, doc: 'a short run' },
  out: { kind: 'string', default: '', doc: 'results file (default bench/results/ai.json)' },
};

interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function percentiles(values: number[], digits = 3): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (v: number) => Math.round(v * 10 ** digits) / 10 ** digits;
  return { count: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1)!) };
}

/** The ai block both the router benchmark and the gateway process use. */
const rawAiBlock = (baseUrl: string, apiKey: string) => ({
  strategy: 'cost',
  explorationShare: 0,
  userRequestsPerMinute: 1_000_000,
  userBurst: 1_000_000,
  providers: [
    { name: 'openai', model: 'bench', apiKey, baseUrl, inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 },
    { name: 'gemini', model: 'bench', apiKey, baseUrl: 'http://127.0.0.1:9', inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 },
    { name: 'local' },
  ],
});

const config = (baseUrl: string, apiKey: string) => parseAiConfig(rawAiBlock(baseUrl, apiKey), {})!;

function routerDecisions(count: number): Percentiles {
  const router = new Router({ config: config('http://127.0.0.1:9/v1', 'k'), providers: createProviders(config('http://127.0.0.1:9/v1', 'k')), now: Date.now, random: Math.random });
  for (const candidate of router.candidates) for (let i = 0; i < 100; i++) candidate.stats.firstToken(100 + Math.random() * 400);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    router.route({ inputTokens: 500, outputTokens: 300, budget: 'available' });
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return percentiles(samples);
}

interface Timing {
  ttftMs: number;
  lastMs: number;
}

async function direct(client: OpenAI): Promise<Timing> {
  const started = performance.now();
  let ttftMs = 0;
  const stream = await client.chat.completions.create({ model: 'bench', messages: buildMessages('chat', 'q'), stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) if (!ttftMs && chunk.choices[0]?.delta?.content) ttftMs = performance.now() - started;
  return { ttftMs, lastMs: performance.now() - started };
}

function viaGateway(ws: WebSocket, id: number): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttftMs = 0;
    const onMessage = (data: WebSocket.RawData) => {
      const frame = JSON.parse(String(data)) as { id?: number; op: string };
      if (frame.id !== id) return;
      if (frame.op === 'ai_delta' && !ttftMs) ttftMs = performance.now() - started;
      if (frame.op === 'ai_done' || frame.op === 'error') {
        ws.off('message', onMessage);
        if (frame.op === 'error') reject(new Error(`gateway answered ${String(data)}`));
        else resolve({ ttftMs, lastMs: performance.now() - started });
      }
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, op: 'ai', task: 'chat', input: { prompt: 'q' } }));
  });
}

/** A child process that ends with this one; resolves once `ready` says it is serving. */
function child(args: string[], what: string): ChildProcess {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  proc.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') process.stderr.write(`${what} exited (${code ?? signal})\n`);
  });
  return proc;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
}

/** The fake OpenAI server in its own process; resolves with its address once it listens. */
async function startFakeProcess(reply: string): Promise<{ proc: ChildProcess; baseUrl: string; apiKey: string }> {
  const helper = new URL('../test/helpers/fake-ai.ts', import.meta.url).href;
  const code = `import { FakeAiServer } from ${JSON.stringify(helper)};
const fake = await FakeAiServer.start('openai');
fake.behave({ reply: ${JSON.stringify(reply)} });
process.stdout.write(JSON.stringify({ baseUrl: fake.baseUrl, apiKey: fake.apiKey }) + '\\n');
process.on('SIGTERM', () => fake.close().then(() => process.exit(0)));`;
  const proc = child(['--input-type=module', '-e', code], 'fake OpenAI server');
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    proc.once('exit', () => reject(new Error('the fake OpenAI server did not start')));
  });
  return { proc, ...(JSON.parse(line) as { baseUrl: string; apiKey: string }) };
}

/** `meridian gateway` in its own process (memory engine, its info log to /dev/null). */
async function startGatewayProcess(ai: unknown, secret: string): Promise<{ proc: ChildProcess; port: number }> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const file = join(mkdtempSync(join(tmpdir(), 'meridian-bench-ai-')), 'gateway.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port, jwt: { secret }, apiKey: 'bench-api-key', metrics: { port: metricsPort }, ai }));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('MERIDIAN_')));
  const proc = spawn(process.execPath, [new URL('../bin/meridian.ts', import.meta.url).pathname, 'gateway', '--config', file], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(() => portOpen(port), { timeoutMs: 20_000, what: 'the gateway process to listen' });
  return { proc, port };
}

const pick = (timings: readonly Timing[], key: keyof Timing) => timings.map((t) => t[key]);

/**
 * Fake server, gateway and clients in three processes. Each pair sends one request direct and one
 * through the gateway back to back (A/B, the order alternating pair by pair and round by round),
 * so both paths meet the same moment's noise; the paired differences are what the gateway adds.
 */
async function overhead(o: Record<string, unknown>) {
  const reply = Array.from({ length: o.chunks as number }, (_, i) => `w${i}`).join(' ');
  const fake = await startFakeProcess(reply);
  const secret = 'bench-secret-that-is-long-enough-for-hs256';
  const gateway = await startGatewayProcess(rawAiBlock(fake.baseUrl, fake.apiKey), secret);
  const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/v1/ws`, { perMessageDeflate: false });
  const client = new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 0 });
  const all = { direct: [] as Timing[], gateway: [] as Timing[] };
  const rounds: Array<{ round: number; pairs: number; addedTtftMs: Percentiles; addedLastTokenMs: Percentiles }> = [];
  let id = 1;
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ id: 0, op: 'connect', token: await signDevToken(secret, { sub: 'bench', rooms: ['*'] }) }));
    await new Promise((resolve) => ws.once('message', resolve));
    for (let warm = 0; warm < 50; warm++) {
      await direct(client);
      await viaGateway(ws, id++);
    }
    for (let round = 0; round < (o.rounds as number); round++) {
      const timings = { direct: [] as Timing[], gateway: [] as Timing[] };
      for (let pair = 0; pair < (o.requests as number); pair++) {
        for (const path of rotate(['direct', 'gateway'] as const, round + pair)) {
          timings[path].push(path === 'direct' ? await direct(client) : await viaGateway(ws, id++));
        }
      }
      all.direct.push(...timings.direct);
      all.gateway.push(...timings.gateway);
      const added = (key: keyof Timing) => percentiles(timings.gateway.map((g, i) => g[key] - timings.direct[i][key]));
      rounds.push({ round: round + 1, pairs: timings.direct.length, addedTtftMs: added('ttftMs'), addedLastTokenMs: added('lastMs') });
    }
  } finally {
    ws.close();
    await Promise.all([stop(gateway.proc), stop(fake.proc)]);
  }
  const paired = (key: keyof Timing) => percentiles(all.gateway.map((g, i) => g[key] - all.direct[i][key]));
  return {
    direct: { ttftMs: percentiles(pick(all.direct, 'ttftMs')), lastTokenMs: percentiles(pick(all.direct, 'lastMs')) },
    gateway: { ttftMs: percentiles(pick(all.gateway, 'ttftMs')), lastTokenMs: percentiles(pick(all.gateway, 'lastMs')) },
    /** Per pair, gateway minus direct: p50/p99 of what the gateway adds under the same noise. */
    addedPerPairMs: { ttft: paired('ttftMs'), lastToken: paired('lastMs') },
    rounds,
  };
}

async function localCalls(calls: number): Promise<Record<string, Percentiles>> {
  const local = new LocalProvider();
  const transcript = Array.from({ length: 30 }, (_, i) => `student${i % 5}: Photosynthesis question number ${i} is about how chlorophyll turns light into sugar in the leaf.`).join('\n');
  const texts: Record<AiTask, string> = { sentiment: 'I really enjoyed this lesson, thank you!', moderate: 'see you all in class tomorrow morning', summarize: transcript, chat: 'what is osmosis?' };
  local.answer({ task: 'sentiment', text: 'warm up the model' });
  const result: Record<string, Percentiles> = {};
  for (const task of Object.keys(texts) as AiTask[]) {
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const started = process.hrtime.bigint();
      local.answer({ task, text: texts[task] });
      samples.push(Number(process.hrtime.bigint() - started) / 1000);
    }
    result[task] = percentiles(samples, 1);
  }
  return result;
}

export async function run(args: readonly string[]): Promise<unknown> {
  const o = parseOptions(args, aiOptions);
  const decision = routerDecisions(o.decisions as number);
  process.stdout.write(`router decision (µs): p50 ${decision.p50}, p99 ${decision.p99}, max ${decision.max} over ${decision.count}\n`);
  const e2e = await overhead(o);
  process.stdout.write(
    `\n${markdownTable(
      ['path', 'requests', 'TTFT p50 ms', 'TTFT p99 ms', 'last token p50 ms', 'last token p99 ms'],
      [
        ['openai SDK direct', e2e.direct.ttftMs.count, e2e.direct.ttftMs.p50, e2e.direct.ttftMs.p99, e2e.direct.lastTokenMs.p50, e2e.direct.lastTokenMs.p99],
        ['through the gateway (WebSocket)', e2e.gateway.ttftMs.count, e2e.gateway.ttftMs.p50, e2e.gateway.ttftMs.p99, e2e.gateway.lastTokenMs.p50, e2e.gateway.lastTokenMs.p99],
        ['added per A/B pair (gateway − direct)', '', e2e.addedPerPairMs.ttft.p50, e2e.addedPerPairMs.ttft.p99, e2e.addedPerPairMs.lastToken.p50, e2e.addedPerPairMs.lastToken.p99],
      ],
    )}\n`,
  );
  for (const r of e2e.rounds) process.stdout.write(`round ${r.round}: added TTFT p50 ${r.addedTtftMs.p50} / p99 ${r.addedTtftMs.p99} ms; last token p50 ${r.addedLastTokenMs.p50} / p99 ${r.addedLastTokenMs.p99} ms\n`);
  const local = await localCalls(o['local-calls'] as number);
  process.stdout.write(`\n${markdownTable(['local task', 'calls', 'p50 µs', 'p99 µs', 'max µs'], Object.entries(local).map(([task, p]) => [task, p.count, p.p50, p.p99, p.max]))}\n`);
  const record = { benchmark: 'ai', date: new Date().toISOString(), machine: machineInfo(), source: sourceInfo(), layout: '3 processes: the fake OpenAI server; the gateway (meridian gateway, memory engine); the bench (direct openai SDK client and WebSocket client), requests interleaved A/B', options: o, routerDecisionUs: decision, endToEnd: e2e, localProviderUs: local };
  const path = await writeResult('ai', record, (o.out as string) || undefined);
  process.stdout.write(`results: ${path}\n`);
  return record;
}
