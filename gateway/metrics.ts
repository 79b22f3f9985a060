/**
 * Gateway metrics: a prom-client Registry of its own (several gateways can share a process in
 * tests), plus the per-second rates and event-loop lag that /loadz reports to the autoscaler.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from './engine/types.ts';
import type { SpendToday } from './ai/spend-today.ts';
import type { RelayLoad } from './relay/relay.ts';

export interface LoadReport {
  connections: number;
  rooms: number;
  msgsInPerSec: number;
  msgsOutPerSec: number;
  eventLoopLagMs: number;
  rssBytes: number;
  /** Bytes written to clients that they have not read yet, summed over connections. */
  outboundQueuedBytes: number;
  draining: boolean;
  /** Present with the cross-region relay. */
  relay?: RelayLoad;
  /** Present with AI, once the region's spend today has been read (absent while unknown). */
  ai?: SpendToday;
}

export interface MetricsOptions {
  /** Window over which /loadz rates are computed. */
  rateWindowMs?: number;
  /** Collect Node process metrics (off in tests that start many gateways). */
  processMetrics?: boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge;
  readonly anonymousSockets: Gauge;
  readonly refusals: Counter<'reason'>;
  readonly rooms: Gauge;
  readonly messagesIn: Counter;
  readonly messagesOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly errors: Counter<'code'>;
  readonly disconnects: Counter<'code'>;
  readonly publishDeliverLatency: Histogram;
  readonly gapRepairs: Counter<'outcome'>;

  // Hot-path totals are plain numbers (one add per frame per subscriber); the Prometheus
  // counters catch up when scraped.
  private msgsInTotal = 0;
  private msgsOutTotal = 0;
  private bytesInTotal = 0;
  private bytesOutTotal = 0;
  private rateSample = { at: Date.now(), msgsIn: 0, msgsOut: 0, inPerSec: 0, outPerSec: 0, lagMs: 0 };
  private readonly rateWindowMs: number;
  private readonly loopDelay: ReturnType<typeof monitorEventLoopDelay>;
  /** Read at scrape time; the connection registry owns the count. */
  private anonymousCount: () => number = () => 0;

  constructor(options: MetricsOptions = {}) {
    this.rateWindowMs = options.rateWindowMs ?? 5000;
    const registers = [this.registry];
    this.connections = new Gauge({ name: 'meridian_connections', help: 'Open WebSocket connections', registers });
    const anonymousCount = () => this.anonymousCount();
    this.anonymousSockets = new Gauge({
      name: 'meridian_anonymous_sockets',
      help: 'Open WebSocket connections that have not completed connect',
      registers,
      collect() {
        this.set(anonymousCount());
      },
    });
    this.refusals = new Counter({
      name: 'meridian_refusals_total',
      help: 'Sockets and HTTP requests refused at a node bound, by reason (anonymous_sockets, anonymous_sockets_per_address, http_concurrency)',
      labelNames: ['reason'],
      registers,
    });
    this.rooms = new Gauge({ name: 'meridian_rooms', help: 'Rooms with local subscribers', registers });
    const catchUp = (name: string, help: string, total: () => number): Counter => {
      let reported = 0;
      return new Counter({
        name,
        help,
        registers,
        collect() {
          const now = total();
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
    };
    this.messagesIn = catchUp('meridian_messages_in_total', 'Client frames received', () => this.msgsInTotal);
    this.messagesOut = catchUp('meridian_messages_out_total', 'Frames sent to clients', () => this.msgsOutTotal);
    this.bytesIn = catchUp('meridian_bytes_in_total', 'Client frame bytes received', () => this.bytesInTotal);
    this.bytesOut = catchUp('meridian_bytes_out_total', 'Frame bytes sent to clients', () => this.bytesOutTotal);
    this.errors = new Counter({ name: 'meridian_errors_total', help: 'Error replies by code', labelNames: ['code'], registers });
    this.disconnects = new Counter({ name: 'meridian_disconnects_total', help: 'Server-initiated closes by close code', labelNames: ['code'], registers });
    this.publishDeliverLatency = new Histogram({
      name: 'meridian_publish_deliver_seconds',
      help: 'Time from publish (message ts) to local fan-out',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.gapRepairs = new Counter({ name: 'meridian_gap_repairs_total', help: 'Offset gaps found in live delivery, by outcome', labelNames: ['outcome'], registers });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  /** Exports the engine's health and its skip/repair totals (malformed values in Redis, resyncs). */
  /** meridian_anonymous_sockets reads `count` when scraped. */
  observeAnonymousSockets(count: () => number): void {
    this.anonymousCount = count;
  }

  observeEngine(engine: Pick<Engine, 'healthy' | 'counters'>): void {
    const registers = [this.registry];
    new Gauge({
      name: 'meridian_engine_healthy',
      help: '1 while the engine backend is reachable',
      registers,
      collect() {
        this.set(engine.healthy() ? 1 : 0);
      },
    });
    const reported = new Map<string, number>();
    new Counter({
      name: 'meridian_engine_events_total',
      help: 'Values the engine skipped or repaired (malformed messages, history or presence entries) and resyncs, by event',
      labelNames: ['event'],
      registers,
      collect() {
        for (const [event, total] of Object.entries(engine.counters ?? {})) {
          const before = reported.get(event) ?? 0;
          if (total > before) this.inc({ event }, total - before);
          reported.set(event, total);
        }
      },
    });
  }

  countIn(bytes: number): void {
    this.msgsInTotal += 1;
    this.bytesInTotal += bytes;
  }

  countOut(frames: number, bytes: number): void {
    this.msgsOutTotal += frames;
    this.bytesOutTotal += bytes;
  }

  /** Rates and mean event-loop lag over the last complete window (a new one starts when it ends). */
  private rates(): { inPerSec: number; outPerSec: number; lagMs: number } {
    const now = Date.now();
    const sample = this.rateSample;
    const elapsed = now - sample.at;
    if (elapsed >= this.rateWindowMs) {
      this.rateSample = {
        at: now,
        msgsIn: this.msgsInTotal,
        msgsOut: this.msgsOutTotal,
        inPerSec: ((this.msgsInTotal - sample.msgsIn) * 1000) / elapsed,
        outPerSec: ((this.msgsOutTotal - sample.msgsOut) * 1000) / elapsed,
        lagMs: this.loopDelay.count > 0 ? this.loopDelay.mean / 1e6 : 0,
      };
      this.loopDelay.reset();
    }
    return this.rateSample;
  }

  load(state: { connections: number; rooms: number; draining: boolean; outboundQueuedBytes: number; relay?: RelayLoad; ai?: SpendToday }): LoadReport {
    const { inPerSec, outPerSec, lagMs: lag } = this.rates();
    return {
      connections: state.connections,
      rooms: state.rooms,
      msgsInPerSec: Math.round(inPerSec * 10) / 10,
      msgsOutPerSec: Math.round(outPerSec * 10) / 10,
      eventLoopLagMs: Math.round(lag * 100) / 100,
      rssBytes: process.memoryUsage.rss(),
      outboundQueuedBytes: state.outboundQueuedBytes,
      draining: state.draining,
      ...(state.relay ? { relay: state.relay } : {}),
      ...(state.ai ? { ai: state.ai } : {}),
    };
  }

  close(): void {
    this.loopDelay.disable();
  }
}
