/**
 * `meridian gateway [--config FILE]`: loads the config, creates the engine (Redis when
 * `redisUrl` is set, memory otherwise) and serves until SIGTERM/SIGINT, then drains.
 */
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { signDevToken } from './auth.ts';
import { ConfigError, loadConfig, type GatewayConfig } from './config.ts';
import { devRoutes, needsDevMode, withDevSecrets } from './dev-mode.ts';
import { createEngine, type Engine } from './engine/index.ts';
import { createRelay } from './relay/index.ts';
import { createGateway } from './server.ts';

const usage = 'usage: meridian gateway [--config FILE]\n\nEnvironment overrides: MERIDIAN_* (see docs/configuration.md).\n';

export function createLogger(config: GatewayConfig): Logger {
  return pino({
    level: config.logLevel,
    base: { region: config.region, node: config.node },
    // Defence in depth: no code path logs these, but a stray object must not leak them.
    redact: { paths: ['token', '*.token', 'apiKey', '*.apiKey', 'secret', '*.secret', 'authorization', '*.authorization', 'data', '*.data'], censor: '<redacted>' },
  });
}

/** The engine the config asks for: Redis when `redisUrl` is set, memory otherwise, every setting passed. */
export function createConfiguredEngine(config: GatewayConfig, logger: Logger): Engine {
  return createEngine({
    redisUrl: config.redisUrl,
    region: config.region,
    engine: {
      historySize: config.history.size,
      historyTtlMs: config.history.ttlMs,
      presenceTtlMs: config.presence.ttlMs,
      idempotencyTtlMs: config.history.idempotencyTtlMs,
      maxReadBytes: config.history.maxReadBytes,
    },
    redis: config.redis,
    memory: config.memory,
    logger,
  });
}

export async function main(argv: string[]): Promise<void> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    process.stderr.write(`meridian gateway: ${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  let config: GatewayConfig;
  try {
    config = loadConfig(values.config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`meridian gateway: ${error.message}\n`);
    process.exit(2);
  }
  const devMode = needsDevMode(config);
  if (devMode) config = withDevSecrets(config);
  const logger = createLogger(config);
  const regionEngine = createConfiguredEngine(config, logger.child({ component: 'engine' }));
  // The cross-region relay wraps the engine when relay.pubsub is configured (docs/relay.md).
  const relayed = createRelay(config, regionEngine, logger);
  const engine = relayed?.engine ?? regionEngine;
  const gateway = createGateway({
    config,
    engine,
    logger,
    registerMetrics: relayed ? (registry) => relayed.relay.registerMetrics(registry) : undefined,
    relayLoad: relayed ? () => relayed.relay.load() : undefined,
    processMetrics: true,
    extraRoutes: devMode ? devRoutes(config.jwt.secret!) : undefined,
  });
  try {
    await gateway.start();
  } catch (error) {
    // EADDRINUSE, an unreachable engine at boot, …: one clear line, then exit 1.
    logger.fatal({ err: error }, 'gateway failed to start');
    process.stderr.write(`meridian gateway: failed to start: ${(error as Error).message}\n`);
    await engine.close().catch((closeError: unknown) => logger.warn({ err: closeError }, 'engine close failed'));
    process.exit(1);
  }
  if (devMode) {
    const token = await signDevToken(config.jwt.secret!, { sub: 'dev', name: 'dev', rooms: ['*'], ttlSec: 12 * 3600 });
    const host = config.host === '0.0.0.0' || config.host === '127.0.0.1' ? 'localhost' : config.host;
    process.stderr.write(
      `\nDev mode (no jwt.secret or jwt.jwksUrl configured): a secret was generated for this run.\n` +
        `  demo page:  http://${host}:${gateway.port}/   (open it in two tabs)\n` +
        `  websocket:  ws://${host}:${gateway.port}/v1/ws\n` +
        `  dev token:  ${token}\n` +
        `  API key:    ${config.apiKey}\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    gateway
      .drain()
      .then(() => engine.close())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
