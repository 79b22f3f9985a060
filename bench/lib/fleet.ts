/**
 * The connections benchmark's load generators: several processes (one process cannot hold more
 * than ~19,900 sockets), each connecting from loopback source addresses of its own (each address
 * has its own ~28k ephemeral ports; a fresh pair per use, so sockets of a previous system still
 * in TIME_WAIT are never in the way), each owning whole rooms so that a room's publisher and its
 * subscribers share one clock.
 */
import type { ClientSettings, RunRequest, RunResult } from '../generator/main.ts';
import type { CrowdHealth, CrowdOpenResult, StormRequest, StormResult } from '../generator/crowd.ts';
import type { RunTarget } from '../generator/delivery-run.ts';
import type { BenchProcess } from './processes.ts';
import { spawnGenerator } from '../systems.ts';

/** Descriptors a generator needs beyond its sockets: stdio, IPC, files. */
const FD_HEADROOM = 256;
const IPC_TIMEOUT_MS = 60_000;
/** Rate mode's pacing timer: publishes due are sent every tick. */
const TICK_MS = 5;

/** Hands out loopback source addresses 127.0.0.2, 127.0.0.3, … never the same twice in a run. */
export class SourceAddresses {
  private next = 0;

  take(count: number): string[] {
    const addresses: string[] = [];
    for (let i = 0; i < count; i++, this.next++) addresses.push(`127.0.${Math.floor(this.next / 250)}.${(this.next % 250) + 2}`);
    return addresses;
  }
}

export interface FleetOptions {
  generators: number;
  /** Most subscribers one generator will hold. */
  connectionsPerGenerator: number;
  addressesPerGenerator: number;
  sources: SourceAddresses;
  client: ClientSettings;
  label: string;
}

export interface OpenStep {
  opened: number;
  elapsedMs: number;
  connectsPerSec: number;
  errors: Record<string, number>;
}

export class Fleet {
  readonly generators: BenchProcess[];
  private readonly addresses: string[][];
  private readonly client: ClientSettings;
  /** The rooms each generator owns, and their members there. */
  private readonly rooms: { room: string; members: number }[][];

  private constructor(generators: BenchProcess[], addresses: string[][], client: ClientSettings) {
    this.generators = generators;
    this.addresses = addresses;
    this.client = client;
    this.rooms = generators.map(() => []);
  }

  static start(options: FleetOptions): Fleet {
    const generators = Array.from({ length: options.generators }, (_, g) => spawnGenerator(options.connectionsPerGenerator + FD_HEADROOM, `${options.label} generator ${g + 1}`));
    const addresses = generators.map(() => options.sources.take(options.addressesPerGenerator));
    return new Fleet(generators, addresses, options.client);
  }

  get roomCount(): number {
    return this.rooms.reduce((n, rooms) => n + rooms.length, 0);
  }

  /** One publisher per generator, generator g's on baseUrls[g % length]. */
  async publishers(baseUrls: string[]): Promise<void> {
    await Promise.all(this.generators.map((g, i) => g.ipc.request('publishers', { settings: this.client, baseUrls: [baseUrls[i % baseUrls.length]] }, IPC_TIMEOUT_MS)));
  }

  /**
   * Opens `rooms` more rooms of `perRoom` subscribers (room k to generator k mod G; member i of a
   * room to baseUrls[i mod length]); all generators connect at once. The connect rate is the
   * connections over the wall time of the slowest generator.
   */
  async open(roomNames: string[], perRoom: number, baseUrls: string[], concurrency: number, ratePerSec: number): Promise<OpenStep> {
    const byGenerator: string[][] = this.generators.map(() => []);
    roomNames.forEach((room, k) => byGenerator[(this.roomCount + k) % this.generators.length].push(room));
    const started = performance.now();
    const timeoutMs = IPC_TIMEOUT_MS + roomNames.length * perRoom * 20;
    const results = await Promise.all(
      this.generators.map((g, i) => {
        for (const room of byGenerator[i]) this.rooms[i].push({ room, members: perRoom });
        const request = { settings: this.client, rooms: byGenerator[i], perRoom, baseUrls, localAddresses: this.addresses[i], concurrency, ratePerSec };
        return g.ipc.request<CrowdOpenResult>('crowdOpen', request, timeoutMs);
      }),
    );
    const elapsedMs = performance.now() - started;
    const opened = results.reduce((n, r) => n + r.opened, 0);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
    return { opened, elapsedMs: Math.round(elapsedMs), connectsPerSec: Math.round((opened / elapsedMs) * 1000), errors };
  }

  /**
   * Publishes `rate` msg/s in total for `durationMs` into every room (each generator its share,
   * in proportion to its rooms) and counts every delivery. `during` runs meanwhile.
   */
  async run(rate: number, durationMs: number, payloadBytes: number, drainTimeoutMs: number, during?: () => Promise<void>): Promise<RunResult[]> {
    const total = this.roomCount;
    const runs = this.generators.map((g, i) => {
      const targets: RunTarget[] = this.rooms[i].map(({ room, members }) => ({ publisher: 0, room, expected: members }));
      const share = (rate * targets.length) / total;
      const maxMessages = Math.ceil((share * durationMs) / 1000) + 1;
      const request: RunRequest = { targets, mode: 'rate', window: 0, rate: share, durationMs, maxMessages, payloadBytes, drainTimeoutMs, tickMs: TICK_MS };
      return g.ipc.request<RunResult>('run', request, durationMs + drainTimeoutMs * 4 + IPC_TIMEOUT_MS * 5);
    });
    const [results] = await Promise.all([Promise.all(runs), during?.()]);
    return results;
  }

  /** Drops `count` clients over all generators at once; each comes back with recover. */
  async storm(count: number, request: Omit<StormRequest, 'count'>): Promise<StormResult[]> {
    const per = Math.ceil(count / this.generators.length);
    const timeoutMs = request.jitterMs + request.attempts * (request.retryMs * request.attempts + this.client.replyTimeoutMs) + IPC_TIMEOUT_MS;
    return Promise.all(this.generators.map((g) => g.ipc.request<StormResult>('storm', { ...request, count: per }, timeoutMs)));
  }

  /** Closes the servers made on their own so far, and how the crowd came back, over all generators. */
  async health(): Promise<CrowdHealth> {
    const all = await Promise.all(this.generators.map((g) => g.ipc.request<CrowdHealth>('crowdStatus', {}, IPC_TIMEOUT_MS)));
    const merged: CrowdHealth = { serverCloses: {}, reconnected: 0, reconnectErrors: {}, notRecovered: 0, away: 0 };
    for (const h of all) {
      for (const [code, n] of Object.entries(h.serverCloses)) merged.serverCloses[code] = (merged.serverCloses[code] ?? 0) + n;
      for (const [code, n] of Object.entries(h.reconnectErrors)) merged.reconnectErrors[code] = (merged.reconnectErrors[code] ?? 0) + n;
      merged.reconnected += h.reconnected;
      merged.notRecovered += h.notRecovered;
      merged.away += h.away;
    }
    return merged;
  }

  async stop(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.stop()));
  }
}
