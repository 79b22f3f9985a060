/**
 * Fake OpenAI and Gemini servers on loopback that speak the real wire formats, for tests and
 * the AI benchmark:
 * - OpenAI: POST /v1/chat/completions (JSON, or SSE `chat.completion.chunk`s ending with a
 *   usage chunk with empty `choices` when `stream_options.include_usage`, then `data: [DONE]`),
 *   POST /v1/responses (SSE with `event:` lines: response.created, response.output_text.delta,
 *   response.completed carrying `usage`).
 * - Gemini: POST /v1beta/models/{model} (or /v1/…, which the SDK uses by default):streamGenerateContent?alt=sse (SSE of
 *   GenerateContentResponse chunks, running `usageMetadata`, `finishReason` on the last) and
 *   :generateContent (one JSON GenerateContentResponse).
 *
 * Faults are set per server (`behave`) or per coming request (`script`): latency before the
 * first token, delay between chunks, an HTTP error (429, 500), a hang (headers, then nothing),
 * a mid-stream cut (the socket is destroyed after N chunks). The server records every request
 * and counts connections the client closed before the answer was complete (`clientClosed`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach } from 'node:test';
import type { Frame, TestClient } from './gateway.ts';
import { waitFor } from './net.ts';

export interface FakeBehaviour {
  /** Milliseconds from the request to the first token (and to an error status). */
  latencyMs: number;
  /** Milliseconds between two chunks. */
  chunkDelayMs: number;
  /** Answer with this HTTP status (429, 500, …) instead of a completion. */
  failStatus?: number;
  /** Send the headers, then nothing. */
  hang?: boolean;
  /** Destroy the connection after this many content chunks. */
  cutAfterChunks?: number;
  /** The answer; by default chosen from the task the system prompt names. */
  reply?: string;
  /** Usage the server reports; by default input 10 and output = the number of chunks. */
  usage?: { input: number; output: number };
}

export interface RecordedRequest {
  path: string;
  body: Record<string, any>;
  /** The API key the client sent. */
  apiKey?: string;
}

export type FakeKind = 'openai' | 'gemini';

const defaultBehaviour: FakeBehaviour = { latencyMs: 0, chunkDelayMs: 0 };

/** The text a fake answers for the task its system prompt describes. */
function defaultReply(kind: FakeKind, system: string): string {
  if (/sentiment/i.test(system)) return '{"score": 0.5}';
  if (/code of conduct/i.test(system)) return '{"flagged": false, "categories": []}';
  return `Hello from ${kind}. This answer arrives in several chunks.`;
}

function chunksOf(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [text];
}

/** Waits `ms`, or less when the client closes the connection (a long injected delay holds nothing after it). */
function pause(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0 || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once('close', done);
    function done() {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    }
  });
}

export class FakeAiServer {
  readonly kind: FakeKind;
  readonly apiKey: string;
  readonly requests: RecordedRequest[] = [];
  /** Requests whose connection the client closed before the answer was complete. */
  clientClosed = 0;
  private behaviour: FakeBehaviour = { ...defaultBehaviour };
  private readonly scripted: Array<Partial<FakeBehaviour>> = [];
  private readonly server: Server;

  private constructor(kind: FakeKind, apiKey: string) {
    this.kind = kind;
    this.apiKey = apiKey;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(kind: FakeKind, apiKey = `fake-${kind}-key`): Promise<FakeAiServer> {
    const fake = new FakeAiServer(kind, apiKey);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The SDK's base URL: `baseURL` for openai (with /v1), `httpOptions.baseUrl` for gemini. */
  get baseUrl(): string {
    return this.kind === 'openai' ? `http://127.0.0.1:${this.port}/v1` : `http://127.0.0.1:${this.port}`;
  }

  /** Sets the behaviour of every later request (fields not given go back to the defaults). */
  behave(behaviour: Partial<FakeBehaviour>): void {
    this.behaviour = { ...defaultBehaviour, ...behaviour };
  }

  /** Behaviours for the next requests, one each, before the standing one applies again. */
  script(...behaviours: Array<Partial<FakeBehaviour>>): void {
    this.scripted.push(...behaviours);
  }

  async waitClientClosed(count: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.clientClosed >= count, { timeoutMs, what: `${count} client-closed requests at the fake ${this.kind}` });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Record<string, any> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      return this.json(res, 400, { error: { message: 'invalid JSON' } });
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const apiKey = this.kind === 'openai' ? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] : (req.headers['x-goog-api-key'] as string | undefined);
    this.requests.push({ path: url.pathname + url.search, body, apiKey });
    const behaviour = { ...this.behaviour, ...this.scripted.shift() };
    let finished = false;
    res.on('close', () => {
      if (!finished && !res.writableFinished) this.clientClosed += 1;
    });
    const done = () => {
      finished = true;
    };
    if (apiKey !== this.apiKey) return void this.json(res, 401, { error: { message: 'bad key', code: 401 } }, done);

    const system = this.systemPrompt(body);
    const text = behaviour.reply ?? defaultReply(this.kind, system);
    const pieces = chunksOf(text);
    const usage = behaviour.usage ?? { input: 10, output: pieces.length };
    const route = this.kind === 'openai' ? url.pathname : url.pathname.replace(/^\/v1(beta)?\/models\/[^/:]+/, '');

    if (behaviour.failStatus) {
      await pause(behaviour.latencyMs, res);
      return void this.json(res, behaviour.failStatus, { error: { message: `injected ${behaviour.failStatus}`, code: behaviour.failStatus, status: 'UNAVAILABLE' } }, done);
    }
    const streaming = route === ':streamGenerateContent' || body.stream === true;
    if (!streaming) {
      if (behaviour.hang) return; // never answers; the client's abort closes the connection
      await pause(behaviour.latencyMs, res);
      const answer = this.whole(route, body, text, usage);
      if (!answer) return void this.json(res, 404, { error: { message: `no route ${url.pathname}` } }, done);
      return void this.json(res, 200, answer, done);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (behaviour.hang) return;
    await pause(behaviour.latencyMs, res);
    const events = this.streamEvents(route, body, pieces, usage);
    let contentSent = 0;
    for (const event of events) {
      if (res.destroyed) return;
      if (event.content && behaviour.cutAfterChunks !== undefined && contentSent >= behaviour.cutAfterChunks) {
        res.socket?.destroy();
        return;
      }
      res.write(event.frame);
      if (event.content) {
        contentSent += 1;
        await pause(behaviour.chunkDelayMs, res);
      }
    }
    done();
    res.end();
  }

  private systemPrompt(body: Record<string, any>): string {
    if (this.kind === 'gemini') return (body.systemInstruction?.parts ?? []).map((p: { text?: string }) => p.text ?? '').join('\n');
    const messages = (body.messages ?? body.input ?? []) as Array<{ role: string; content: unknown }>;
    return messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => String(m.content)).join('\n');
  }

  private json(res: ServerResponse, status: number, value: unknown, done?: () => void): void {
    if (res.destroyed) return; // the client gave up during an injected delay
    const text = JSON.stringify(value);
    done?.();
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** The non-streamed answer for the route, or undefined for an unknown route. */
  private whole(route: string, body: Record<string, any>, text: string, usage: { input: number; output: number }): unknown {
    if (route === '/v1/chat/completions') {
      return {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output },
      };
    }
    if (route === ':generateContent') {
      return {
        candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: usage.input, candidatesTokenCount: usage.output, totalTokenCount: usage.input + usage.output },
        modelVersion: 'fake',
      };
    }
    return undefined;
  }

  private streamEvents(route: string, body: Record<string, any>, pieces: string[], usage: { input: number; output: number }): Array<{ frame: string; content: boolean }> {
    const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
    if (route === '/v1/chat/completions') {
      const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model };
      const includeUsage = body.stream_options?.include_usage === true;
      const events = pieces.map((piece, i) => ({
        frame: data({ ...base, choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: piece } : { content: piece }, finish_reason: null }], ...(includeUsage ? { usage: null } : {}) }),
        content: true,
      }));
      events.push({ frame: data({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...(includeUsage ? { usage: null } : {}) }), content: false });
      if (includeUsage) events.push({ frame: data({ ...base, choices: [], usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output } }), content: false });
      events.push({ frame: 'data: [DONE]\n\n', content: false });
      return events;
    }
    if (route === '/v1/responses') {
      let sequence = 0;
      const event = (type: string, value: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...value })}\n\n`;
      const response = { id: 'resp_fake', object: 'response', created_at: Math.floor(Date.now() / 1000), model: body.model, output: [], status: 'in_progress' };
      const text = pieces.join('');
      return [
        { frame: event('response.created', { response }), content: false },
        ...pieces.map((piece) => ({ frame: event('response.output_text.delta', { item_id: 'msg_fake', output_index: 0, content_index: 0, delta: piece, logprobs: [] }), content: true })),
        {
          frame: event('response.completed', {
            response: {
              ...response,
              status: 'completed',
              output: [{ type: 'message', id: 'msg_fake', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
              usage: { input_tokens: usage.input, input_tokens_details: { cached_tokens: 0 }, output_tokens: usage.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.input + usage.output },
            },
          }),
          content: false,
        },
      ];
    }
    // Gemini: each chunk carries the running usage; the last one has finishReason.
    return pieces.map((piece, i) => {
      const last = i === pieces.length - 1;
      const output = last ? usage.output : Math.min(usage.output, i + 1);
      return {
        frame: data({
          candidates: [{ content: { role: 'model', parts: [{ text: piece }] }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
          usageMetadata: { promptTokenCount: usage.input, candidatesTokenCount: output, totalTokenCount: usage.input + output },
          modelVersion: 'fake',
        }),
        content: true,
      };
    });
  }
}

/**
 * The two fakes for the tests of one describe block: started before its first test, back to
 * their default behaviour before each test, closed after the last. Read them through the
 * returned object (they exist once the block's `before` has run).
 */
export function fakeProvidersPerSuite(): { readonly openai: FakeAiServer; readonly gemini: FakeAiServer } {
  const fakes = {} as { openai: FakeAiServer; gemini: FakeAiServer };
  before(async () => {
    [fakes.openai, fakes.gemini] = await Promise.all([FakeAiServer.start('openai'), FakeAiServer.start('gemini')]);
  });
  after(async () => Promise.all([fakes.openai.close(), fakes.gemini.close()]));
  beforeEach(() => {
    fakes.openai.behave({});
    fakes.gemini.behave({});
  });
  return fakes;
}

/** Prices the gateway scenarios give the two remote providers (USD per million tokens). */
export const fakePrices = { openai: { inputUsdPer1M: 0.15, outputUsdPer1M: 0.6 }, gemini: { inputUsdPer1M: 0.3, outputUsdPer1M: 2.5 } };

/** An `ai` config block routing to the two fakes (cost strategy, no exploration), then local. */
export function fakeAiBlock(openai: FakeAiServer, gemini: FakeAiServer, extra: Record<string, unknown> = {}, openaiApi: 'chat' | 'responses' = 'chat'): Record<string, unknown> {
  return {
    strategy: 'cost',
    latencySloMs: 1000,
    explorationShare: 0,
    userRequestsPerMinute: 600,
    userBurst: 100,
    providers: [
      { name: 'openai', model: 'gpt-test', apiKey: openai.apiKey, baseUrl: openai.baseUrl, api: openaiApi, ...fakePrices.openai },
      { name: 'gemini', model: 'gemini-test', apiKey: gemini.apiKey, baseUrl: gemini.baseUrl, ...fakePrices.gemini },
      { name: 'local' },
    ],
    ...extra,
  };
}

/** Sends an ai frame and collects its frames up to the terminal one (ai_done or error). */
export async function askAi(client: TestClient, id: number, task: string, input: Record<string, unknown>): Promise<{ deltas: string[]; end: Frame }> {
  client.send({ id, op: 'ai', task, input });
  const end = await client.waitFrame((f) => f.id === id && (f.op === 'ai_done' || f.op === 'error'), { timeoutMs: 15_000, what: `the end of ai request ${id}` });
  return { deltas: client.frames.filter((f) => f.id === id && f.op === 'ai_delta').map((f) => f.text), end };
}
