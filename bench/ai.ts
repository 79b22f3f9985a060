/**
 * `npm run bench -- ai`: what the AI routing costs.
 *
 * 1. Router decision time: `Router.route()` with three providers holding full latency windows,
 *    timed one call at a time (µs).
 * 2. Gateway overhead: time to first token and to last token of a streamed chat answer through
 *    the gateway's WebSocket (client → gateway → openai SDK → fake server and back), against the
 *    openai SDK called directly against the same fake server, in the same run, alternating
 *    which goes first each round. The difference of the two is what the gateway adds.
 * 3. The offline `local` provider's time per call, per task.
 *
 * Layout (1 process): the fake OpenAI server, the gateway (memory engine) and the clients share
 * this process, so both paths compete for the same event loop the same way.
 */
import OpenAI from 'openai';
import { pino } from 'pino';
import WebSocket from 'ws';
import { parseAiConfig } from '../gateway/ai/config.ts';
import { buildMessages } from '../gateway/ai/prompts.ts';
import { createProviders, LocalProvider } from '../gateway/ai/providers/index.ts';
import { Router } from '../gateway/ai/router.ts';
import type { AiTask } from '../gateway/ai/types.ts';
import { signDevToken } from '../gateway/auth.ts';
import { resolveConfig } from '../gateway/config.ts';
import { MemoryEngine } from '../gateway/engine/memory.ts';
import { createGateway } from '../gateway/server.ts';
import { FakeAiServer } from '../test/helpers/fake-ai.ts';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { machineInfo, markdownTable, rotate, sourceInfo, writeResult } from './lib/results.ts';
import { median, round3 } from './lib/stats.ts';

export const aiOptions: Record<string, OptionSpec> = {
  decisions: { kind: 'int', default: 100_000, quick: 10_000, doc: 'router decisions timed' },
  requests: { kind: 'int', default: 200, quick: 30, doc: 'streamed chat requests per path per round' },
  rounds: { kind: 'int', default: 3, quick: 1, doc: 'rounds, alternating which path goes first' },
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

const config = (baseUrl: string, apiKey: string) =>
  parseAiConfig(
    {
      strategy: 'cost',
      explorationShare: 0,
      userRequestsPerMinute: 1_000_000,
      userBurst: 1_000_000,
      providers: [
        { name: 'openai', model: 'bench', apiKey, baseUrl, inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 },
        { name: 'gemini', model: 'bench', apiKey, baseUrl: 'http://127.0.0.1:9', inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 },
        { name: 'local' },
      ],
    },
    {},
  )!;

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

async function overhead(o: Record<string, unknown>) {
  const fake = await FakeAiServer.start('openai');
  fake.behave({ reply: Array.from({ length: o.chunks as number }, (_, i) => `w${i}`).join(' ') });
  const secret = 'bench-secret-that-is-long-enough-for-hs256';
  const gatewayConfig = resolveConfig({ host: '127.0.0.1', port: 0, jwt: { secret }, apiKey: 'bench', ai: { ...config(fake.baseUrl, fake.apiKey) } }, {});
  const engine = new MemoryEngine();
  const gateway = createGateway({ config: gatewayConfig, engine, logger: pino({ level: 'silent' }) });
  await gateway.start();
  const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/v1/ws`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ id: 0, op: 'connect', token: await signDevToken(secret, { sub: 'bench', rooms: ['*'] }) }));
  await new Promise((resolve) => ws.once('message', resolve));
  const client = new OpenAI({ apiKey: fake.apiKey, baseURL: fake.baseUrl, maxRetries: 0 });
  const paths = { direct: [] as Timing[], gateway: [] as Timing[] };
  let id = 1;
  const rounds: Array<{ order: string[]; direct: { ttftP50: number; lastP50: number }; gateway: { ttftP50: number; lastP50: number } }> = [];
  try {
    for (let warm = 0; warm < 20; warm++) {
      await direct(client);
      await viaGateway(ws, id++);
    }
    for (let round = 0; round < (o.rounds as number); round++) {
      const order = rotate(['direct', 'gateway'] as const, round);
      const roundTimings = { direct: [] as Timing[], gateway: [] as Timing[] };
      for (const path of order) {
        for (let i = 0; i < (o.requests as number); i++) roundTimings[path].push(path === 'direct' ? await direct(client) : await viaGateway(ws, id++));
        paths[path].push(...roundTimings[path]);
      }
      const p50 = (timings: Timing[], key: keyof Timing) => percentiles(timings.map((t) => t[key])).p50;
      rounds.push({
        order: [...order],
        direct: { ttftP50: p50(roundTimings.direct, 'ttftMs'), lastP50: p50(roundTimings.direct, 'lastMs') },
        gateway: { ttftP50: p50(roundTimings.gateway, 'ttftMs'), lastP50: p50(roundTimings.gateway, 'lastMs') },
      });
    }
  } finally {
    ws.close();
    await gateway.close();
    await engine.close();
    await fake.close();
  }
  const summary = (timings: Timing[]) => ({ ttftMs: percentiles(timings.map((t) => t.ttftMs)), lastTokenMs: percentiles(timings.map((t) => t.lastMs)) });
  const d = summary(paths.direct);
  const g = summary(paths.gateway);
  return {
    direct: d,
    gateway: g,
    addedMs: {
      ttftP50: round3(g.ttftMs.p50 - d.ttftMs.p50),
      ttftP99: round3(g.ttftMs.p99 - d.ttftMs.p99),
      lastTokenP50: round3(g.lastTokenMs.p50 - d.lastTokenMs.p50),
      lastTokenP99: round3(g.lastTokenMs.p99 - d.lastTokenMs.p99),
      ttftP50MedianOfRounds: round3(median(rounds.map((r) => r.gateway.ttftP50 - r.direct.ttftP50))),
    },
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
        ['added by the gateway', '', e2e.addedMs.ttftP50, e2e.addedMs.ttftP99, e2e.addedMs.lastTokenP50, e2e.addedMs.lastTokenP99],
      ],
    )}\n`,
  );
  const local = await localCalls(o['local-calls'] as number);
  process.stdout.write(`\n${markdownTable(['local task', 'calls', 'p50 µs', 'p99 µs', 'max µs'], Object.entries(local).map(([task, p]) => [task, p.count, p.p50, p.p99, p.max]))}\n`);
  const record = { benchmark: 'ai', date: new Date().toISOString(), machine: machineInfo(), source: sourceInfo(), layout: '1 process: fake OpenAI server, gateway (memory engine) and clients', options: o, routerDecisionUs: decision, endToEnd: e2e, localProviderUs: local };
  const path = await writeResult('ai', record, (o.out as string) || undefined);
  process.stdout.write(`results: ${path}\n`);
  return record;
}
