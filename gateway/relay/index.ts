/**
 * Builds the relay from the gateway config: none when `relay.pubsub` is not configured,
 * otherwise the Pub/Sub bus, the relay, and the relayed engine the gateway uses. Only wiring
 * lives here.
 */
import type { GatewayConfig } from '../config.ts';
import type { Logger } from 'pino';
import type { Engine } from '../engine/types.ts';
import { PubSubBus } from './pubsub-bus.ts';
import { Relay, type RelaySettings } from './relay.ts';
import { relayedEngine } from './relayed-engine.ts';
import type { RelayBus } from './types.ts';

export function relaySettings(config: GatewayConfig): RelaySettings {
  const { relay } = config;
  return {
    region: config.region,
    maxRead: config.history.maxRecover,
    recentMs: config.history.ttlMs,
    outboxMaxMessages: relay.outboxMaxMessages,
    outboxMaxBytes: relay.outboxMaxBytes,
    outboxMaxInFlight: relay.outboxMaxInFlight,
    outboxMode: relay.outboxMode,
    retryInitialMs: relay.retryInitialMs,
    retryMaxMs: relay.retryMaxMs,
    reorderWindowMs: relay.reorderWindowMs,
    repairTimeoutMs: relay.repairTimeoutMs,
    repairAttempts: relay.repairAttempts,
    digestIntervalMs: relay.digestIntervalMs,
    digestMaxRooms: relay.digestMaxRooms,
    digestMaxMembers: relay.digestMaxMembers,
    maxTrackedRooms: relay.maxTrackedRooms,
    lagWindowMs: relay.lagWindowMs,
    lagSamples: relay.lagSamples,
    heartbeatMs: relay.heartbeatMs,
    silenceMs: relay.silenceMs,
    peerForgetMs: relay.peerForgetMs,
    maxPeerRegions: relay.maxPeerRegions,
  };
}

export interface RelayedSetup {
  engine: Engine;
  relay: Relay;
}

/** Wraps `engine` with a relay on `bus` (any RelayBus: Pub/Sub in production, memory in tests). */
export function withRelay(engine: Engine, bus: RelayBus, settings: RelaySettings, logger: Logger, now: () => number = Date.now): RelayedSetup {
  const relay = new Relay({ ...settings, bus, engine, logger, now });
  return { engine: relayedEngine(engine, relay), relay };
}

/** The Pub/Sub relay when configured, else undefined. */
export function createRelay(config: GatewayConfig, engine: Engine, baseLogger: Logger): RelayedSetup | undefined {
  const { pubsub } = config.relay;
  if (!pubsub.projectId || !pubsub.topic) return undefined;
  const logger = baseLogger.child({ component: 'relay' });
  let setup: RelayedSetup | undefined;
  const bus = new PubSubBus({
    projectId: pubsub.projectId,
    topic: pubsub.topic,
    region: config.region,
    create: pubsub.create,
    batchMaxMs: pubsub.batchMaxMs,
    batchMaxMessages: pubsub.batchMaxMessages,
    publishTimeoutMs: pubsub.publishTimeoutMs,
    flowMaxMessages: config.relay.flowMaxMessages,
    flowMaxBytes: config.relay.flowMaxBytes,
    ackDeadlineSec: pubsub.ackDeadlineSec,
    reopenMs: pubsub.reopenMs,
    logger,
    onMalformed: () => setup?.relay.metrics.malformed.inc(),
  });
  setup = withRelay(engine, bus, relaySettings(config), logger);
  return setup;
}

export { Relay, type RelayLoad, type RelaySettings } from './relay.ts';
export { MemoryBus, MemoryBusNetwork } from './memory-bus.ts';
export { PubSubBus, subscriptionName } from './pubsub-bus.ts';
export type { RelayBus, BusDelivery, BusHealth } from './types.ts';
