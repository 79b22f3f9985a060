/** The AI subsystem's Prometheus metrics, registered on the gateway's registry (never on the public listener's routes beyond /metrics). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class AiMetrics {
  readonly requests: Counter<'provider' | 'task' | 'outcome'>;
  readonly costUsd: Counter<'provider'>;
  readonly tokens: Counter<'provider' | 'direction'>;
  readonly ttft: Histogram<'provider' | 'outcome'>;
  readonly fallbacks: Counter<'provider' | 'reason'>;
  readonly hedges: Counter;
  readonly moderation: Counter<'mode' | 'verdict'>;
  readonly roomSentiment: Gauge<'room'>;
  readonly chargeFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'meridian_ai_requests_total', help: 'AI requests by the provider that answered (none when none did), task and outcome', labelNames: ['provider', 'task', 'outcome'], registers });
    this.costUsd = new Counter({ name: 'meridian_ai_cost_usd_total', help: 'USD charged for AI requests, from the usage providers reported', labelNames: ['provider'], registers });
    this.tokens = new Counter({ name: 'meridian_ai_tokens_total', help: 'Tokens by provider and direction (input, output)', labelNames: ['provider', 'direction'], registers });
    this.ttft = new Histogram({
      name: 'meridian_ai_ttft_seconds',
      help: 'Time from sending a request to a provider to its first token, by provider and outcome',
      labelNames: ['provider', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15],
      registers,
    });
    this.fallbacks = new Counter({ name: 'meridian_ai_fallbacks_total', help: 'Provider attempts that failed before the first token, by provider and reason', labelNames: ['provider', 'reason'], registers });
    this.hedges = new Counter({ name: 'meridian_ai_hedges_total', help: 'Short tasks sent to a second provider', registers });
    this.moderation = new Counter({ name: 'meridian_ai_moderation_total', help: 'Room messages moderated, by mode and verdict (allowed, flagged, blocked, timeout, error)', labelNames: ['mode', 'verdict'], registers });
    this.roomSentiment = new Gauge({ name: 'meridian_ai_room_sentiment', help: 'Rolling sentiment score (-1..1) of rooms with sentiment on (at most ai.maxSentimentRooms rooms per pod)', labelNames: ['room'], registers });
    this.chargeFailures = new Counter({ name: 'meridian_ai_charge_failures_total', help: 'AI spend that could not be added to the shared budget (engine unavailable)', registers });
  }
}
