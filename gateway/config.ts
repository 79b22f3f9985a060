/**
 * Gateway configuration: parsed once from a YAML/JSON file plus MERIDIAN_* environment
 * overrides, validated against config-schema.ts, frozen, and passed in. This is the only
 * gateway module that reads `process.env`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { AiConfigError, parseAiConfig, type AiConfig } from './ai/config.ts';
import { configFields, type FieldSpec } from './config-schema.ts';
import { deepFreeze } from '../lib/deep-freeze.ts';
import { checkNotifyConfig, type NotifyConfig } from './notify/config-check.ts';
import { parseRedisUrl, redactRedisUrl } from './engine/redis-connection.ts';

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly listenBacklog: number;
  readonly region: string;
  readonly node: string;
  readonly logLevel: string;
  readonly jwt: {
    readonly secret?: string;
    readonly jwksUrl?: string;
    readonly issuer?: string;
    readonly audience?: string;
    readonly jwksTimeoutMs: number;
    readonly clockToleranceSec: number;
  };
  readonly apiKey?: string;
  readonly redisUrl?: string;
  readonly redis: {
    readonly keyPrefix: string;
    readonly commandTimeoutMs: number;
    readonly connectTimeoutMs: number;
    readonly maxReconnectDelayMs: number;
    readonly subscribeBatchSize: number;
    readonly maxPayloadBytes: number;
    readonly resubscribeRetryMs: number;
    readonly healthCheckMs: number;
    readonly clusterRefreshMs: number;
    readonly waitReplicas: number;
    readonly waitTimeoutMs: number;
  };
  readonly memory: { readonly sweepIntervalMs: number; readonly maxRetainedBytes: number };
  readonly relay: {
    readonly pubsub: {
      readonly projectId?: string;
      readonly topic?: string;
      readonly create: boolean;
      readonly batchMaxMs: number;
      readonly batchMaxMessages: number;
      readonly publishTimeoutMs: number;
      readonly ackDeadlineSec: number;
      readonly reopenMs: number;
    };
    readonly flowMaxMessages: number;
    readonly flowMaxBytes: number;
    readonly outboxMaxMessages: number;
    readonly outboxMaxBytes: number;
    readonly outboxMaxInFlight: number;
    readonly outboxMode: 'pipelined' | 'window';
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
    readonly reorderWindowMs: number;
    readonly repairTimeoutMs: number;
    readonly repairAttempts: number;
    readonly digestIntervalMs: number;
    readonly digestMaxRooms: number;
    readonly digestMaxMembers: number;
    readonly maxTrackedRooms: number;
    readonly lagWindowMs: number;
    readonly lagSamples: number;
    readonly heartbeatMs: number;
    readonly silenceMs: number;
    readonly peerForgetMs: number;
    readonly maxPeerRegions: number;
  };
  readonly history: { readonly size: number; readonly ttlMs: number; readonly maxRecover: number; readonly idempotencyTtlMs: number; readonly positionCheckMs: number; readonly maxReadBytes: number; readonly repairRetries: number; readonly repairRetryInitialMs: number; readonly repairRetryMaxMs: number };
  readonly presence: { readonly ttlMs: number; readonly refreshMs: number; readonly maxMembers: number; readonly joinLeaveMaxMembers: number; readonly eventWindowMs: number };
  readonly limits: {
    readonly maxMessageBytes: number;
    readonly outboundQueueBytes: number;
    readonly publishRatePerSec: number;
    readonly publishBurst: number;
    readonly violationsBeforeClose: number;
    readonly violationWindowMs: number;
    readonly roomsPerConnection: number;
    readonly connectionsPerUser: number;
    readonly maxConnections: number;
    readonly connectTimeoutMs: number;
    readonly maxRoomNameLength: number;
    readonly maxPendingCommands: number;
    readonly historyReadsPerConnection: number;
    readonly historyReplyBytes: number;
    readonly subscribeRatePerSec: number;
    readonly subscribeBurst: number;
    readonly subscribesInFlight: number;
    readonly subscribeQueueLength: number;
    readonly subscribeRetryAfterMs: number;
    readonly roomsPerUserPerMinute: number;
    readonly writeBatchFrames: number;
    readonly writeBatchBytes: number;
    readonly httpHeadersTimeoutMs: number;
    readonly httpRequestTimeoutMs: number;
    readonly maxAnonymousSockets: number;
    readonly maxAnonymousSocketsPerAddress: number;
    readonly maxJsonDepth: number;
    readonly httpMaxRequestsPerSocket: number;
    readonly httpMaxConcurrentRequests: number;
  };
  readonly metrics: { readonly host: string; readonly port: number };
  readonly pingIntervalMs: number;
  readonly perMessageDeflate: boolean;
  readonly drain: { readonly windowMs: number; readonly batchSize: number; readonly deadlineMs: number; readonly maxReconnectEndpoints: number };
  readonly rebalance: { readonly maxShedPerMinute: number; readonly maxInstructionTtlMs: number; readonly tickMs: number };
  /** The `ai` block (gateway/ai/config.ts); absent: AI requests answer UNAVAILABLE. */
  readonly ai?: AiConfig;
  readonly notify: NotifyConfig;
}

/** Deep partial, for tests and callers that build a config in code. */
export type ConfigInput = { [K in Exclude<keyof GatewayConfig, 'ai'>]?: GatewayConfig[K] extends object ? Partial<GatewayConfig[K]> : GatewayConfig[K] } & {
  /** The `ai` block as written in a config file (apiKey or apiKeyEnv per provider). */
  ai?: Record<string, unknown>;
};

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(`config: ${message}`);
    this.name = 'ConfigError';
  }
}

export function envName(field: FieldSpec): string {
  if (field.env) return field.env;
  return 'MERIDIAN_' + field.path.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function shown(field: FieldSpec, value: unknown): string {
  return field.secret ? '<redacted>' : JSON.stringify(value);
}

function coerce(field: FieldSpec, value: unknown, fromEnv: boolean): number | string | boolean {
  const where = fromEnv ? `${field.path} (from ${envName(field)})` : field.path;
  switch (field.kind) {
    case 'int': {
      const n = fromEnv && typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      const min = field.min ?? Number.MIN_SAFE_INTEGER;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
        throw new ConfigError(`${where} must be an integer ≥ ${min}, got ${shown(field, value)}`);
      }
      return n;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (fromEnv && (value === 'true' || value === 'false')) return value === 'true';
      throw new ConfigError(`${where} must be true or false, got ${shown(field, value)}`);
    }
    case 'enum': {
      if (typeof value === 'string' && field.values?.includes(value)) return value;
      throw new ConfigError(`${where} must be one of ${field.values?.join(', ')}, got ${shown(field, value)}`);
    }
    case 'url': {
      if (typeof value === 'string' && URL.canParse(value)) return value;
      throw new ConfigError(`${where} must be an absolute URL, got ${shown(field, value)}`);
    }
    case 'redis-url': {
      try {
        if (typeof value === 'string' && parseRedisUrl(value)) return value;
      } catch {
        // parseRedisUrl's reason is the same sentence as below.
      }
      // The URL may carry a password: it is shown redacted (an unparsable one not at all).
      const given = typeof value === 'string' ? JSON.stringify(redactRedisUrl(value)) : shown(field, value);
      throw new ConfigError(`${where} must be redis://host:port, rediss://… or redis+cluster://host1:port1,host2:port2, got ${given}`);
    }
    case 'string': {
      if (typeof value === 'string' && value.length > 0) return value;
      throw new ConfigError(`${where} must be a non-empty string, got ${shown(field, value)}`);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Flattens `{limits:{maxMessageBytes:1}}` to `{"limits.maxMessageBytes":1}`, rejecting unknown fields. */
function flatten(input: Record<string, unknown>, known: Map<string, FieldSpec>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(input)) {
    const path = prefix + key;
    if (known.has(path)) {
      if (value !== undefined && value !== null) out.set(path, value);
      continue;
    }
    const isSection = [...known.keys()].some((k) => k.startsWith(path + '.'));
    if (isSection && isPlainObject(value)) {
      for (const [k, v] of flatten(value, known, path + '.')) out.set(k, v);
    } else if (isSection) {
      throw new ConfigError(`${path} must be an object, got ${JSON.stringify(value)}`);
    } else {
      throw new ConfigError(`unknown field ${path}`);
    }
  }
  return out;
}

/**
 * Builds the frozen config from a file's parsed content (or code), then applies environment
 * overrides (environment wins). Throws ConfigError naming the field.
 */
export function resolveConfig(input: unknown = {}, env: Record<string, string | undefined> = {}): GatewayConfig {
  if (!isPlainObject(input)) throw new ConfigError(`the file must hold an object, got ${JSON.stringify(input)}`);
  const known = new Map(configFields.map((f) => [f.path, f]));
  // The ai block has lists (providers, moderation rules), so it has its own parser.
  const { ai: aiInput, ...rest } = input;
  const given = flatten(rest, known);
  const result: Record<string, unknown> = {};
  for (const field of configFields) {
    const envValue = env[envName(field)];
    let value: unknown;
    if (envValue !== undefined && envValue !== '') value = coerce(field, envValue, true);
    else if (given.has(field.path)) value = coerce(field, given.get(field.path), false);
    else value = field.default;
    if (field.path === 'node' && value === undefined) value = hostname();
    if (value === undefined) continue;
    const parts = field.path.split('.');
    let target = result;
    for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>;
    target[parts.at(-1)!] = value;
  }
  result.jwt ??= {};
  const jwt = result.jwt as { secret?: string; jwksUrl?: string };
  result.host ??= jwt.secret || jwt.jwksUrl ? '0.0.0.0' : '127.0.0.1';
  const config = result as unknown as GatewayConfig;
  if (config.jwt.secret && config.jwt.jwksUrl) throw new ConfigError('jwt.secret and jwt.jwksUrl are exclusive: set one');
  if (config.presence.refreshMs >= config.presence.ttlMs) {
    throw new ConfigError(`presence.refreshMs must be below presence.ttlMs (${config.presence.ttlMs}), got ${config.presence.refreshMs}`);
  }
  if (config.drain.windowMs > config.drain.deadlineMs) {
    throw new ConfigError(`drain.windowMs must not exceed drain.deadlineMs (${config.drain.deadlineMs}), got ${config.drain.windowMs}`);
  }
  const pubsub = config.relay.pubsub;
  if (Boolean(pubsub.projectId) !== Boolean(pubsub.topic)) {
    throw new ConfigError('relay.pubsub.projectId and relay.pubsub.topic must be set together');
  }
  if (pubsub.projectId && config.relay.digestIntervalMs >= config.presence.ttlMs) {
    throw new ConfigError(`relay.digestIntervalMs must be below presence.ttlMs (${config.presence.ttlMs}), got ${config.relay.digestIntervalMs}`);
  }
  if (config.relay.heartbeatMs > 0 && config.relay.silenceMs > 0 && config.relay.silenceMs <= config.relay.heartbeatMs) {
    throw new ConfigError(`relay.silenceMs must exceed relay.heartbeatMs (${config.relay.heartbeatMs}), got ${config.relay.silenceMs}`);
  }
  try {
    const ai = parseAiConfig(aiInput, env);
    if (ai) (result as { ai?: AiConfig }).ai = ai;
  } catch (error) {
    if (error instanceof AiConfigError) throw new ConfigError(error.message);
    throw error;
  }
  checkNotifyConfig(config.notify, (message) => new ConfigError(message));
  return deepFreeze(config);
}

/** Reads a YAML or JSON file (JSON is YAML); a missing or unparsable file names the path. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`cannot parse ${path}: ${(error as Error).message}`);
  }
}

/** The entry point's loader: `--config FILE` (optional) plus the process environment. */
export function loadConfig(configPath: string | undefined): GatewayConfig {
  const fileContent = configPath ? readConfigFile(configPath) : {};
  return resolveConfig(fileContent, process.env);
}
