/**
 * The gateway's `ai` block: the same shape as a RealtimeCluster's `spec.ai` (crds/types.ts), with
 * `apiKey` or `apiKeyEnv` in place of `apiKeySecretRef`, plus the tuning values below. One table
 * (aiFields) gives every scalar's default, bounds and docs; docs/configuration.md lists each
 * (test/ai-config.test.ts checks). Absent block: AI is off and `ai` frames answer UNAVAILABLE.
 */
import { isValidPattern } from '../rooms.ts';
import { providerNames, type ProviderName } from './types.ts';

export const strategyNames = ['cost', 'latency', 'balanced'] as const;
export const moderationModes = ['off', 'flag', 'block'] as const;
export type ModerationMode = (typeof moderationModes)[number];

export interface AiFieldSpec {
  /** Path under `ai`, e.g. `latencySloMs`. */
  path: string;
  kind: 'int' | 'number' | 'enum' | 'string';
  default: number | string;
  min?: number;
  max?: number;
  values?: readonly string[];
  doc: string;
}

export const aiFields: readonly AiFieldSpec[] = [
  { path: 'strategy', kind: 'enum', default: 'balanced', values: strategyNames, doc: 'How the router ranks the providers left after filtering: `cost` (lowest expected cost), `latency` (lowest p95 time to first token) or `balanced` (weighted, normalised score).' },
  { path: 'latencySloMs', kind: 'int', default: 1500, min: 1, doc: 'A provider whose p95 time to first token is above this is skipped while another remains.' },
  { path: 'dailyBudgetUsd', kind: 'number', default: 100, min: 0, doc: 'Spend per UTC day across the region (shared by its pods through the engine). Each paid request reserves its expected cost first and settles to the reported usage after; one whose reservation does not fit is not sent to a paid provider.' },
  { path: 'userDailyBudgetUsd', kind: 'number', default: 1, min: 0, doc: 'Spend per user per UTC day across the region, reserved and settled as `ai.dailyBudgetUsd`; a request that does not fit is not sent to a paid provider.' },
  { path: 'onBudgetExceeded', kind: 'enum', default: 'local', values: ['local', 'reject'], doc: 'When a budget has no room for a request: answer with the `local` provider, or `reject` with BUDGET_EXCEEDED. When the spend cannot be read (engine down): `local`, or AI_UNAVAILABLE (retryable) under `reject`.' },
  { path: 'explorationShare', kind: 'number', default: 0.02, min: 0, max: 0.5, doc: 'Share of requests sent to a provider other than the strategy\'s pick (one the SLO filter skipped included), so its latency estimate stays fresh.' },
  { path: 'balancedCostWeight', kind: 'number', default: 0.5, min: 0, max: 1, doc: 'Weight of normalised cost in the `balanced` score; the p95 time to first token gets the rest.' },
  { path: 'requestTimeoutMs', kind: 'int', default: 60_000, min: 100, doc: 'Longest one AI request may take, fallbacks included; then it ends with AI_TIMEOUT.' },
  { path: 'firstTokenTimeoutMs', kind: 'int', default: 15_000, min: 50, doc: 'Longest a provider may take to its first token; then the next provider is tried.' },
  { path: 'idleTimeoutMs', kind: 'int', default: 10_000, min: 50, doc: 'Longest gap between two chunks of a stream; then the stream ends with a retryable error.' },
  { path: 'hedgeDelayMs', kind: 'int', default: 400, min: 1, doc: 'A short task (sentiment, moderate) with no answer after this long is sent to a second provider too; the first answer wins and the other is aborted.' },
  { path: 'hedgeMaxShare', kind: 'number', default: 0.05, min: 0, max: 1, doc: 'Hedged requests are capped at this share of short tasks.' },
  { path: 'userRequestsPerMinute', kind: 'int', default: 20, min: 1, doc: 'AI requests per user per minute on one pod (token bucket); more answer AI_RATE_LIMITED.' },
  { path: 'userBurst', kind: 'int', default: 5, min: 1, doc: 'AI requests a user may make at once before the per-minute rate applies.' },
  { path: 'maxConcurrentPerConnection', kind: 'int', default: 4, min: 1, doc: 'AI requests in flight per connection; more answer LIMIT_EXCEEDED.' },
  { path: 'maxInputChars', kind: 'int', default: 8000, min: 1, doc: 'Longest prompt or text accepted in an `ai` frame; longer answers BAD_REQUEST.' },
  { path: 'maxOutputTokens', kind: 'int', default: 1024, min: 1, doc: 'Output tokens asked of a provider for chat and summaries.' },
  { path: 'maxContextMessages', kind: 'int', default: 50, min: 0, doc: 'Most room messages a chat may take as context (`input.contextMessages`).' },
  { path: 'summarizeMessages', kind: 'int', default: 100, min: 1, doc: 'Room messages read from history for a summary (capped by history.maxRecover).' },
  { path: 'circuitFailures', kind: 'int', default: 3, min: 1, doc: 'Consecutive failures that open a provider\'s circuit.' },
  { path: 'circuitOpenMs', kind: 'int', default: 10_000, min: 10, doc: 'How long an open circuit skips its provider; then one probe request is let through (half-open).' },
  { path: 'statsSamples', kind: 'int', default: 100, min: 5, doc: 'Latency samples kept per provider for the rolling p95.' },
  { path: 'statsWindowMs', kind: 'int', default: 300_000, min: 100, doc: 'Latency samples older than this are dropped, so a provider that was slow is tried again.' },
  { path: 'ewmaAlpha', kind: 'number', default: 0.2, min: 0.01, max: 1, doc: 'Weight of the newest sample in the moving averages of latency and error rate.' },
  { path: 'maxTrackedUsers', kind: 'int', default: 100_000, min: 1, doc: 'Users whose AI rate-limit buckets one pod keeps; the oldest are forgotten beyond it.' },
  { path: 'sentimentWindowMinutes', kind: 'int', default: 5, min: 1, doc: 'A room\'s sentiment score is the mean over this many recent minutes.' },
  { path: 'maxSentimentRooms', kind: 'int', default: 1000, min: 1, doc: 'Rooms whose sentiment one pod exports as a metric; the oldest are dropped beyond it.' },
  { path: 'spendCacheMs', kind: 'int', default: 5000, min: 100, doc: "/loadz reports the region's spend today from a copy of the engine tally read at most this often (and dropped when older than three times this: the spend is then unknown)." },
  { path: 'spendReadTimeoutMs', kind: 'int', default: 1000, min: 10, doc: "Longest one read of the spend tally for /loadz may take; a read that times out keeps the last copy." },
  { path: 'moderatorRoomPrefix', kind: 'string', default: 'moderators:', doc: 'A `flag` event for room R is published in room `<prefix>R`; moderators are the users whose token allows that room.' },
];

export interface AiProviderConfig {
  readonly name: ProviderName;
  readonly model: string;
  /** Resolved from apiKey or apiKeyEnv; never logged. */
  readonly apiKey?: string;
  readonly baseUrl?: string;
  /** openai only: `chat` (Chat Completions) or `responses` (Responses API). */
  readonly api: 'chat' | 'responses';
  readonly inputUsdPer1M: number;
  readonly outputUsdPer1M: number;
}

export interface ModerationRule {
  /** Room pattern as in a token's `rooms` (`class-*`, `*`). */
  readonly rooms: string;
  readonly mode: ModerationMode;
  /** block only: longest a publish waits for the verdict. */
  readonly timeoutMs: number;
  /** block only: what a verdict that came too late means. */
  readonly onTimeout: 'allow' | 'block';
}

export interface AiConfig {
  readonly strategy: (typeof strategyNames)[number];
  readonly latencySloMs: number;
  readonly dailyBudgetUsd: number;
  readonly userDailyBudgetUsd: number;
  readonly onBudgetExceeded: 'local' | 'reject';
  readonly explorationShare: number;
  readonly balancedCostWeight: number;
  readonly requestTimeoutMs: number;
  readonly firstTokenTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly hedgeDelayMs: number;
  readonly hedgeMaxShare: number;
  readonly userRequestsPerMinute: number;
  readonly userBurst: number;
  readonly maxConcurrentPerConnection: number;
  readonly maxInputChars: number;
  readonly maxOutputTokens: number;
  readonly maxContextMessages: number;
  readonly summarizeMessages: number;
  readonly circuitFailures: number;
  readonly circuitOpenMs: number;
  readonly statsSamples: number;
  readonly statsWindowMs: number;
  readonly ewmaAlpha: number;
  readonly maxTrackedUsers: number;
  readonly sentimentWindowMinutes: number;
  readonly maxSentimentRooms: number;
  readonly moderatorRoomPrefix: string;
  readonly spendCacheMs: number;
  readonly spendReadTimeoutMs: number;
  readonly providers: readonly AiProviderConfig[];
  readonly moderation: readonly ModerationRule[];
  readonly sentiment: { readonly rooms: readonly string[] };
}

/** A problem in the `ai` block; the gateway's loader turns it into a ConfigError. */
export class AiConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AiConfigError';
  }
}

const defaultModels: Record<ProviderName, string> = { openai: '', gemini: '', local: 'meridian-local' };
const providerKeys = new Set(['name', 'model', 'apiKey', 'apiKeyEnv', 'baseUrl', 'api', 'inputUsdPer1M', 'outputUsdPer1M']);
const ruleKeys = new Set(['rooms', 'mode', 'timeoutMs', 'onTimeout']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(field: AiFieldSpec, value: unknown): number | string {
  const where = `ai.${field.path}`;
  if (field.kind === 'enum' || field.kind === 'string') {
    if (typeof value !== 'string' || value.length === 0) throw new AiConfigError(`${where} must be a non-empty string, got ${JSON.stringify(value)}`);
    if (field.values && !field.values.includes(value)) throw new AiConfigError(`${where} must be one of ${field.values.join(', ')}, got ${JSON.stringify(value)}`);
    return value;
  }
  const ok = typeof value === 'number' && Number.isFinite(value) && (field.kind === 'number' || Number.isSafeInteger(value));
  const min = field.min ?? -Infinity;
  const max = field.max ?? Infinity;
  if (!ok || (value as number) < min || (value as number) > max) {
    const range = field.max === undefined ? `≥ ${min}` : `between ${min} and ${max}`;
    throw new AiConfigError(`${where} must be ${field.kind === 'int' ? 'an integer' : 'a number'} ${range}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function price(value: unknown, where: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new AiConfigError(`${where} must be a number ≥ 0`);
  return value;
}

function parseProvider(raw: unknown, index: number, env: Record<string, string | undefined>): AiProviderConfig {
  const at = `ai.providers[${index}]`;
  if (!isObject(raw)) throw new AiConfigError(`${at} must be an object`);
  for (const key of Object.keys(raw)) {
    if (key === 'apiKeySecretRef') throw new AiConfigError(`${at}.apiKeySecretRef is for the RealtimeCluster; the gateway takes apiKey or apiKeyEnv`);
    if (!providerKeys.has(key)) throw new AiConfigError(`unknown field ${at}.${key}`);
  }
  const name = raw.name;
  if (typeof name !== 'string' || !(providerNames as readonly string[]).includes(name)) throw new AiConfigError(`${at}.name must be one of ${providerNames.join(', ')}`);
  const provider = name as ProviderName;
  const remote = provider !== 'local';
  if (raw.apiKey !== undefined && raw.apiKeyEnv !== undefined) throw new AiConfigError(`${at}: set apiKey or apiKeyEnv, not both`);
  if (raw.apiKeyEnv !== undefined && typeof raw.apiKeyEnv !== 'string') throw new AiConfigError(`${at}.apiKeyEnv must name an environment variable`);
  const apiKey = typeof raw.apiKeyEnv === 'string' ? env[raw.apiKeyEnv] : raw.apiKey;
  if (remote && (typeof apiKey !== 'string' || apiKey.length === 0)) {
    throw new AiConfigError(raw.apiKeyEnv ? `${at}.apiKeyEnv names ${raw.apiKeyEnv}, which is not set` : `${at} needs apiKey or apiKeyEnv`);
  }
  if (!remote && (raw.apiKey !== undefined || raw.apiKeyEnv !== undefined || raw.baseUrl !== undefined)) {
    throw new AiConfigError(`${at}: the local provider runs in the gateway and takes no apiKey or baseUrl`);
  }
  const model = raw.model ?? defaultModels[provider];
  if (typeof model !== 'string' || model.length === 0) throw new AiConfigError(`${at}.model is required for ${provider}`);
  if (raw.baseUrl !== undefined && (typeof raw.baseUrl !== 'string' || !URL.canParse(raw.baseUrl))) throw new AiConfigError(`${at}.baseUrl must be an absolute URL`);
  const api = raw.api ?? 'chat';
  if (api !== 'chat' && api !== 'responses') throw new AiConfigError(`${at}.api must be chat or responses`);
  if (api === 'responses' && provider !== 'openai') throw new AiConfigError(`${at}.api applies to openai only`);
  return {
    name: provider,
    model,
    ...(remote ? { apiKey: apiKey as string } : {}),
    ...(typeof raw.baseUrl === 'string' ? { baseUrl: raw.baseUrl } : {}),
    api,
    inputUsdPer1M: price(raw.inputUsdPer1M, `${at}.inputUsdPer1M`),
    outputUsdPer1M: price(raw.outputUsdPer1M, `${at}.outputUsdPer1M`),
  };
}

function pattern(value: unknown, where: string): string {
  if (typeof value !== 'string' || !isValidPattern(value)) throw new AiConfigError(`${where} must be a room pattern (a room name that may end in *)`);
  return value;
}

function parseRule(raw: unknown, index: number): ModerationRule {
  const at = `ai.moderation[${index}]`;
  if (!isObject(raw)) throw new AiConfigError(`${at} must be an object {rooms, mode, timeoutMs?, onTimeout?}`);
  for (const key of Object.keys(raw)) if (!ruleKeys.has(key)) throw new AiConfigError(`unknown field ${at}.${key}`);
  if (typeof raw.mode !== 'string' || !(moderationModes as readonly string[]).includes(raw.mode)) throw new AiConfigError(`${at}.mode must be one of ${moderationModes.join(', ')}`);
  const timeoutMs = raw.timeoutMs ?? 1000;
  if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new AiConfigError(`${at}.timeoutMs must be an integer ≥ 1`);
  const onTimeout = raw.onTimeout ?? 'allow';
  if (onTimeout !== 'allow' && onTimeout !== 'block') throw new AiConfigError(`${at}.onTimeout must be allow or block`);
  return { rooms: pattern(raw.rooms, `${at}.rooms`), mode: raw.mode as ModerationMode, timeoutMs, onTimeout };
}

/** Parses the `ai` block; `env` resolves `apiKeyEnv`. Undefined when the block is absent. */
export function parseAiConfig(input: unknown, env: Record<string, string | undefined>): AiConfig | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isObject(input)) throw new AiConfigError('ai must be an object');
  const known = new Set([...aiFields.map((f) => f.path), 'providers', 'moderation', 'sentiment']);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new AiConfigError(`unknown field ai.${key}`);
  const result: Record<string, unknown> = {};
  for (const field of aiFields) result[field.path] = input[field.path] === undefined ? field.default : scalar(field, input[field.path]);

  const providersInput = input.providers ?? [{ name: 'local' }];
  if (!Array.isArray(providersInput) || providersInput.length === 0) throw new AiConfigError('ai.providers must be a non-empty list');
  const providers = providersInput.map((raw, i) => parseProvider(raw, i, env));
  const seen = new Set<string>();
  for (const provider of providers) {
    if (seen.has(provider.name)) throw new AiConfigError(`ai.providers lists ${provider.name} twice`);
    seen.add(provider.name);
  }
  const moderationInput = input.moderation ?? [];
  if (!Array.isArray(moderationInput)) throw new AiConfigError('ai.moderation must be a list of {rooms, mode}');
  const sentimentInput = input.sentiment ?? { rooms: [] };
  if (!isObject(sentimentInput) || !Array.isArray(sentimentInput.rooms ?? [])) throw new AiConfigError('ai.sentiment must be {rooms: [pattern, …]}');
  for (const key of Object.keys(sentimentInput)) if (key !== 'rooms') throw new AiConfigError(`unknown field ai.sentiment.${key}`);
  const sentimentRooms = ((sentimentInput.rooms ?? []) as unknown[]).map((p, i) => pattern(p, `ai.sentiment.rooms[${i}]`));
  return { ...result, providers, moderation: moderationInput.map(parseRule), sentiment: { rooms: sentimentRooms } } as unknown as AiConfig;
}
