/**
 * The AI subsystem as the gateway sees it: `ai` and `ai_cancel` frames of a connection, the
 * moderation seam of the publish path, room sentiment and spend for the HTTP API.
 *
 * One `ai` frame → `ai_delta` frames (chat, summaries) → one `ai_done`, or one `error` with
 * `retryable`. Per request: admission (id, per-connection concurrency, per-user rate), input,
 * room context from history, budget, routing (one log line with its reason; never the prompt or
 * the answer), execution, charging from the reported usage.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Engine } from '../engine/types.ts';
import { gatewayError, toGatewayError, type ErrorCode } from '../errors.ts';
import { AiBudgets, type Reservation } from './budgets.ts';
import { SpendTodayCache } from './spend-today.ts';
import type { AiConfig } from './config.ts';
import { AiRequestError, Executor, type ExecutionResult, type Spend } from './executor.ts';
import { AiMetrics } from './metrics.ts';
import { buildMessages, readResult, transcript, type ContextLine } from './prompts.ts';
import { createProviders } from './providers/index.ts';
import { messageText, parseAiInput, type AiInput } from './request-input.ts';
import { NoProviderError, Router, isPaid, type BudgetState, type RouteDecision } from './router.ts';
import { RoomAi } from './room-ai.ts';
import { costUsd, expectedUsage, providerNames, shortTasks, type AiProvider, type AiTask, type ProviderName, type Usage } from './types.ts';
import { UserRateLimits } from './user-limits.ts';

/** What the service needs of a connection; the gateway's Connection is adapted to this. */
export interface AiCaller {
  readonly user: string;
  allows(room: string): boolean;
  send(frame: Record<string, unknown>): boolean;
}

export interface AiServiceDeps {
  config: AiConfig;
  engine: Pick<Engine, 'history' | 'broker' | 'tallies'>;
  logger: Logger;
  registry: Registry;
  region: string;
  maxRoomNameLength: number;
  maxHistory: number;
  now?: () => number;
  random?: () => number;
  /** Replaces the providers built from config (benchmarks, tests). */
  providers?: AiProvider[];
}

const outcomeOf: Record<string, string> = {
  AI_STREAM_FAILED: 'stream_failed',
  AI_TIMEOUT: 'timeout',
  AI_UNAVAILABLE: 'unavailable',
  CANCELLED: 'cancelled',
  BUDGET_EXCEEDED: 'budget_exceeded',
};

export class AiService {
  readonly router: Router;
  readonly metrics: AiMetrics;
  readonly budgets: AiBudgets;
  readonly rooms: RoomAi;
  /** The region's spend today for /loadz: a copy refreshed at most every ai.spendCacheMs. */
  readonly spendToday: SpendTodayCache;
  private readonly deps: AiServiceDeps;
  private readonly config: AiConfig;
  private readonly executor: Executor;
  private readonly limits: UserRateLimits;
  private readonly now: () => number;
  private readonly logger: Logger;
  /** Requests in flight per connection, by frame id. */
  private readonly inFlight = new Map<object, Map<number, AbortController>>();

  constructor(deps: AiServiceDeps) {
    this.deps = deps;
    this.config = deps.config;
    this.now = deps.now ?? Date.now;
    this.logger = deps.logger.child({ component: 'ai' });
    this.metrics = new AiMetrics(deps.registry);
    this.router = new Router({ config: deps.config, providers: deps.providers ?? createProviders(deps.config), now: this.now, random: deps.random ?? Math.random });
    this.executor = new Executor({ config: deps.config, now: this.now });
    this.limits = new UserRateLimits({ perMinute: deps.config.userRequestsPerMinute, burst: deps.config.userBurst, maxUsers: deps.config.maxTrackedUsers, now: this.now });
    this.budgets = new AiBudgets({ tallies: deps.engine.tallies, now: this.now, dailyBudgetUsd: deps.config.dailyBudgetUsd, userDailyBudgetUsd: deps.config.userDailyBudgetUsd });
    this.spendToday = new SpendTodayCache({ budgets: this.budgets, now: this.now, refreshMs: deps.config.spendCacheMs, timeoutMs: deps.config.spendReadTimeoutMs });
    this.rooms = new RoomAi({ config: deps.config, engine: deps.engine, metrics: this.metrics, logger: this.logger, region: deps.region, now: this.now, moderate: (text) => this.run('moderate', text) });
  }

  /** Serves one `ai` frame; never throws (every outcome is a frame). */
  request(key: object, caller: AiCaller, id: number | undefined, task: string, input: unknown): void {
    this.serve(key, caller, id, task, input).catch((error: unknown) => this.fail(caller, id, error));
  }

  /** `ai_cancel`: aborts the request `id` of this connection; it ends with `error` CANCELLED. */
  cancel(key: object, caller: AiCaller, id: number): void {
    const controller = this.inFlight.get(key)?.get(id);
    if (!controller) return this.fail(caller, id, gatewayError('NOTHING_TO_CANCEL', `no ai request ${id} is in flight`));
    controller.abort('cancel');
  }

  /** The connection closed: its requests are aborted upstream. */
  closed(key: object): void {
    const requests = this.inFlight.get(key);
    if (!requests) return;
    this.inFlight.delete(key);
    for (const controller of requests.values()) controller.abort('disconnect');
  }

  private admit(key: object, caller: AiCaller, id: number | undefined): { id: number; controller: AbortController; requests: Map<number, AbortController> } {
    if (id === undefined) throw gatewayError('BAD_REQUEST', 'id is required on ai frames: it names the request in ai_delta, ai_done and ai_cancel');
    const requests = this.inFlight.get(key) ?? new Map<number, AbortController>();
    if (requests.has(id)) throw gatewayError('BAD_REQUEST', `ai request ${id} is already in flight`);
    if (requests.size >= this.config.maxConcurrentPerConnection) throw gatewayError('LIMIT_EXCEEDED', `at most ${this.config.maxConcurrentPerConnection} ai requests in flight per connection`);
    if (!this.limits.take(caller.user)) throw gatewayError('AI_RATE_LIMITED', `more than ${this.config.userRequestsPerMinute} ai requests per minute`);
    const controller = new AbortController();
    requests.set(id, controller);
    this.inFlight.set(key, requests);
    return { id, controller, requests };
  }

  private async serve(key: object, caller: AiCaller, frameId: number | undefined, task: string, rawInput: unknown): Promise<void> {
    const input = parseAiInput(task, rawInput, { config: this.config, maxRoomNameLength: this.deps.maxRoomNameLength, maxHistory: this.deps.maxHistory }, (room) => caller.allows(room));
    const { id, controller, requests } = this.admit(key, caller, frameId);
    const timer = setTimeout(() => controller.abort('timeout'), this.config.requestTimeoutMs);
    try {
      const result = await this.execute(input, caller.user, controller.signal, (text) => caller.send({ id, op: 'ai_delta', text }));
      const done: Record<string, unknown> = {
        id,
        op: 'ai_done',
        provider: result.provider,
        model: result.model,
        tokens: { input: result.usage.inputTokens, output: result.usage.outputTokens },
        costUsd: result.costUsd,
        ttftMs: Math.round(result.ttftMs * 10) / 10,
      };
      if (!result.usageReported) done.usageEstimated = true;
      if (result.fallbacks.length > 0) done.fallbacks = result.fallbacks;
      if (shortTasks.has(input.task)) {
        done.text = result.text;
        const parsed = readResult(input.task, result.text);
        if (parsed) done.result = parsed;
      }
      caller.send(done);
    } catch (error) {
      this.fail(caller, id, error);
    } finally {
      clearTimeout(timer);
      requests.delete(id);
      if (requests.size === 0 && this.inFlight.get(key) === requests) this.inFlight.delete(key);
    }
  }

  /** Routes and runs one task for `user` (undefined: the gateway's own, e.g. moderation), charging the spend. */
  async execute(input: AiInput, user: string | undefined, signal: AbortSignal, onDelta: (text: string) => void = () => {}): Promise<ExecutionResult> {
    let text = input.text;
    let context: ContextLine[] = [];
    if (input.room && input.historyMessages > 0) {
      const page = await this.deps.engine.history.read(input.room, { limit: input.historyMessages });
      context = page.publications.map((pub) => ({ user: pub.from?.user ?? 'server', text: messageText(pub.data, this.config.maxInputChars) })).filter((line) => line.text.length > 0);
      if (input.task === 'summarize') text = transcript(context);
    }
    const messages = buildMessages(input.task, text, input.task === 'chat' ? context : []);
    const estimate = expectedUsage(input.task, messages);
    const started = this.now();
    const { decision, budget, reservation } = await this.route(input.task, estimate, user);
    const plan = decision.plan.map((c) => c.provider.name);
    // The one line per routing decision: why, never what was asked or answered.
    this.logger.info({ task: input.task, strategy: this.router.strategyName, provider: plan[0], plan, reason: decision.reason, filtered: decision.filtered, budget }, 'ai route');
    let spend: Spend | undefined;
    try {
      const result = await this.executor.execute({
        plan: decision.plan,
        request: { task: input.task, text, messages, maxOutputTokens: shortTasks.has(input.task) ? 64 : this.config.maxOutputTokens },
        stream: !shortTasks.has(input.task),
        hedge: shortTasks.has(input.task),
        signal,
        onDelta,
      });
      spend = result;
      this.record(input.task, result.provider, 'ok', result.ttftMs, result.fallbacks);
      if (result.hedged) this.metrics.hedges.inc();
      this.logger.debug({ task: input.task, provider: result.provider, fallbacks: result.fallbacks.length, ms: this.now() - started }, 'ai done');
      return result;
    } catch (error) {
      if (error instanceof AiRequestError) {
        spend = error.spend;
        this.record(input.task, error.spend?.provider ?? 'none', outcomeOf[error.code] ?? 'error');
      }
      throw error;
    } finally {
      // Before ai_done goes out, so a client that reads the usage next sees this request in it.
      await this.charge(user, reservation, spend);
    }
  }

  /**
   * The plan for one request, and the budget reservation that lets it use paid providers: the
   * expected cost on the most expensive paid provider of the plan (a fallback may answer).
   * When it does not fit, or the spend cannot be read, the request is routed again without them.
   */
  private async route(task: AiTask, estimate: Usage, user: string | undefined): Promise<{ decision: RouteDecision; budget: BudgetState; reservation?: Reservation }> {
    const route = (budget: BudgetState): RouteDecision => {
      try {
        return this.router.route({ inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens, budget });
      } catch (error) {
        if (error instanceof NoProviderError) {
          this.logger.info({ task, strategy: this.router.strategyName, provider: null, reason: error.code, filtered: error.filtered, budget }, 'ai route');
        }
        throw error;
      }
    };
    const decision = route('available');
    const reserveUsd = Math.max(0, ...decision.plan.filter(isPaid).map((c) => costUsd(estimate, c.provider.price)));
    if (reserveUsd === 0) return { decision, budget: 'available' };
    let budget: BudgetState;
    try {
      const reservation = await this.budgets.reserve(user, reserveUsd);
      if (reservation) return { decision, budget: 'available', reservation };
      budget = 'spent';
    } catch (error) {
      // Spend unknown (engine unavailable): paid providers are skipped rather than spent blind.
      this.logger.warn({ err: error }, 'ai budget unreadable; paid providers skipped');
      budget = 'unreadable';
    }
    return { decision: route(budget), budget };
  }

  /** A task for the gateway itself (moderation of room traffic); charged to the region only. */
  run(task: AiTask, text: string, signal: AbortSignal = new AbortController().signal): Promise<ExecutionResult> {
    return this.execute({ task, text, historyMessages: 0 }, undefined, signal);
  }

  private record(task: AiTask, provider: string, outcome: string, ttftMs?: number, fallbacks: ReadonlyArray<{ provider: string; reason: string }> = []): void {
    this.metrics.requests.inc({ provider, task, outcome });
    if (ttftMs !== undefined) this.metrics.ttft.observe({ provider, outcome }, ttftMs / 1000);
    for (const fallback of fallbacks) this.metrics.fallbacks.inc({ provider: fallback.provider, reason: fallback.reason });
  }

  /** Settles the reservation to what the request cost (0 when no paid provider answered). */
  private async charge(user: string | undefined, reservation: Reservation | undefined, spend: Spend | undefined): Promise<void> {
    const actualUsd = spend?.costUsd ?? 0;
    if (spend) {
      this.metrics.tokens.inc({ provider: spend.provider, direction: 'input' }, spend.usage.inputTokens);
      this.metrics.tokens.inc({ provider: spend.provider, direction: 'output' }, spend.usage.outputTokens);
      if (actualUsd > 0) this.metrics.costUsd.inc({ provider: spend.provider }, actualUsd);
    }
    try {
      const provider = spend && (providerNames as readonly string[]).includes(spend.provider) ? (spend.provider as ProviderName) : undefined;
      if (reservation) await this.budgets.settle(reservation, actualUsd, provider);
      else await this.budgets.charge(user, actualUsd, provider);
    } catch (error) {
      // The reservation stays counted (high, the safe side); the actual cost is in the metrics.
      this.metrics.chargeFailures.inc();
      this.logger.error({ err: error, costUsd: actualUsd, provider: spend?.provider }, 'ai spend could not be settled in the shared budget');
    }
  }

  private fail(caller: AiCaller, id: number | undefined, error: unknown): void {
    let code: ErrorCode;
    let message: string;
    let retryable: boolean | undefined;
    if (error instanceof AiRequestError) ({ code, message, retryable } = error);
    else if (error instanceof NoProviderError) {
      code = error.code;
      message = error.message;
      retryable = error.code === 'AI_UNAVAILABLE';
    } else {
      const gatewayFailure = toGatewayError(error);
      if (gatewayFailure.code === 'INTERNAL') this.logger.error({ err: error }, 'ai request failed');
      ({ code, message } = gatewayFailure);
      if (code === 'UNAVAILABLE') retryable = true;
    }
    const frame: Record<string, unknown> = { op: 'error', code, message };
    if (id !== undefined) frame.id = id;
    if (retryable !== undefined) frame.retryable = retryable;
    caller.send(frame);
  }

  /** Today's spend, for GET /v1/ai/usage. */
  async usage(user?: string): Promise<Record<string, unknown>> {
    const [spent, today] = await Promise.all([this.budgets.spent(user), this.budgets.today()]);
    const body: Record<string, unknown> = { day: this.budgets.day(), spentUsd: spent.clusterUsd, dailyBudgetUsd: this.config.dailyBudgetUsd, providersToday: today.providers, providers: this.router.snapshot() };
    if (user !== undefined) body.user = { user, spentUsd: spent.userUsd, dailyBudgetUsd: this.config.userDailyBudgetUsd };
    return body;
  }
}
