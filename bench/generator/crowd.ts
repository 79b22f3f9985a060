/**
 * Many subscribers in many rooms, for the connections benchmark: opened at a paced rate from
 * several loopback source addresses (each has its own ephemeral port range), spread over one or
 * more servers, one room per connection. A storm drops some of them at once (TCP cut, no close
 * handshake) and brings each back after a random delay with `recover` from the last message it
 * received, so every message still reaches it once, in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import type { BenchConnection, ConnectOptions, ClientProtocol } from '../clients/types.ts';
import type { SubscriberState } from './delivery-run.ts';

export interface CrowdOpenRequest {
  /** Members of each room, in order; member i of a room connects to baseUrls[i % length]. */
  rooms: string[];
  perRoom: number;
  baseUrls: string[];
  /** Connection j connects from localAddresses[j % length]. */
  localAddresses: string[];
  /** Connections being opened at once (the server's listen backlog is bounded). */
  concurrency: number;
  /** New connections started per second at most; 0: as fast as `concurrency` allows. */
  ratePerSec: number;
}

export interface CrowdOpenResult {
  total: number;
  opened: number;
  elapsedMs: number;
  connectsPerSec: number;
  /** Failed attempts (each retried), by code. */
  errors: Record<string, number>;
}

export interface StormRequest {
  count: number;
  /** Each dropped client comes back after a uniformly random delay in [0, jitterMs). */
  jitterMs: number;
  /** A failed reconnect is tried again after this, plus jitter, up to `attempts` times. */
  retryMs: number;
  attempts: number;
}

export interface StormResult {
  dropped: number;
  back: number;
  /** From the drop until the last client was subscribed again. */
  allBackMs: number;
  backP50Ms: number;
  backP99Ms: number;
  /** Reconnects whose recovery answered recovered:false (messages may be missing). */
  notRecovered: number;
  errors: Record<string, number>;
}

interface Member {
  connection: BenchConnection;
  options: ConnectOptions;
  room: string;
  state: SubscriberState;
}

/**
 * Attempts per connection in `open` before the whole request fails; failed attempts are
 * counted by code and reported, so a run that needed retries says so.
 */
const OPEN_ATTEMPTS = 6;
const OPEN_RETRY_MS = 500;

/** A short, stable name for why an attempt failed (the messages carry the detail). */
function errorCode(error: unknown): string {
  const message = (error as Error).message ?? '';
  if (message.includes('no upgrade response')) return 'UPGRADE_TIMEOUT';
  const refused = /upgrade refused: HTTP\/1\.1 (\d+)/.exec(message);
  if (refused) return `HTTP_${refused[1]}`;
  const noReply = /no reply to (\w+)/.exec(message);
  if (noReply) return `${noReply[1].toUpperCase()}_REPLY_TIMEOUT`;
  const closed = /socket closed with (\d+)/.exec(message);
  if (closed) return `CLOSED_${closed[1]}`;
  // A socket error (`ECONNRESET`, …) or a Meridian error reply (`CODE: text`) inside the bench's own prefix.
  const socketError = /\bE[A-Z]{4,}\b/.exec(message)?.[0];
  return socketError ?? /^([A-Z][A-Z_]+):/.exec(message.replace(/^(BENCH_[A-Z_]+: )+/, ''))?.[1] ?? 'OTHER';
}

export class Crowd {
  private readonly members: Member[] = [];
  private readonly connect: ClientProtocol;
  /** Options for the next connection (a fresh user, the generator's delivery hooks) for `state`. */
  private readonly optionsFor: (baseUrl: string, state: SubscriberState) => ConnectOptions;

  constructor(connect: ClientProtocol, optionsFor: (baseUrl: string, state: SubscriberState) => ConnectOptions) {
    this.connect = connect;
    this.optionsFor = optionsFor;
  }

  get size(): number {
    return this.members.length;
  }

  async open(request: CrowdOpenRequest): Promise<CrowdOpenResult> {
    const plan: { room: string; baseUrl: string; localAddress: string }[] = [];
    for (const room of request.rooms) {
      for (let i = 0; i < request.perRoom; i++) {
        const j = this.members.length + plan.length;
        plan.push({ room, baseUrl: request.baseUrls[i % request.baseUrls.length], localAddress: request.localAddresses[j % request.localAddresses.length] });
      }
    }
    const errors: Record<string, number> = {};
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < plan.length) {
        const index = next++;
        if (request.ratePerSec > 0) {
          const due = started + (index * 1000) / request.ratePerSec;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
        }
        const { room, baseUrl, localAddress } = plan[index];
        const state: SubscriberState = { lastSeq: -1 };
        const options = { ...this.optionsFor(baseUrl, state), localAddress };
        for (let attempt = 1; ; attempt++) {
          try {
            const connection = await this.connect(options);
            await connection.subscribe(room);
            this.members.push({ connection, options, room, state });
            break;
          } catch (error) {
            const code = errorCode(error);
            errors[code] = (errors[code] ?? 0) + 1;
            if (attempt >= OPEN_ATTEMPTS) throw new BenchError(BenchErrorCode.CLIENT_FAILED, `connection ${index} to ${room} failed ${attempt} times: ${(error as Error).message}`);
            await sleep(OPEN_RETRY_MS * attempt);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(request.concurrency, plan.length) }, worker));
    const elapsedMs = performance.now() - started;
    return {
      total: this.members.length,
      opened: plan.length,
      elapsedMs: Math.round(elapsedMs),
      connectsPerSec: Math.round((plan.length / elapsedMs) * 1000),
      errors,
    };
  }

  /** Drops the first `count` members at once, then brings each back with recover. */
  async storm(request: StormRequest): Promise<StormResult> {
    const victims = this.members.slice(0, Math.min(request.count, this.members.length));
    const positions = victims.map((member) => member.connection.position?.());
    if (positions.some((p) => p === undefined)) throw new BenchError(BenchErrorCode.PROTOCOL, 'a storm needs connections that track their position (Meridian, trackPosition)');
    const dropped = performance.now();
    for (const member of victims) member.connection.terminate();
    const errors: Record<string, number> = {};
    const backAt: number[] = [];
    let notRecovered = 0;
    await Promise.all(
      victims.map(async (member, i) => {
        await sleep(Math.random() * request.jitterMs);
        for (let attempt = 1; ; attempt++) {
          let connection: BenchConnection | undefined;
          try {
            connection = await this.connect(member.options);
            if (!(await connection.resubscribe!(member.room, positions[i]!))) notRecovered++;
            member.connection = connection;
            backAt.push(performance.now() - dropped);
            return;
          } catch (error) {
            connection?.terminate();
            const code = errorCode(error);
            errors[code] = (errors[code] ?? 0) + 1;
            if (attempt >= request.attempts) throw new BenchError(BenchErrorCode.CLIENT_FAILED, `a dropped client did not come back in ${attempt} attempts: ${(error as Error).message}`);
            await sleep(request.retryMs * attempt + Math.random() * request.retryMs);
          }
        }
      }),
    );
    backAt.sort((a, b) => a - b);
    const at = (p: number) => Math.round(backAt[Math.min(backAt.length - 1, Math.ceil((p / 100) * backAt.length) - 1)] ?? 0);
    return { dropped: victims.length, back: backAt.length, allBackMs: at(100), backP50Ms: at(50), backP99Ms: at(99), notRecovered, errors };
  }

  async closeAll(concurrency: number): Promise<number> {
    const members = this.members.splice(0);
    let next = 0;
    const worker = async () => {
      while (next < members.length) await members[next++].connection.close();
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, members.length) }, worker));
    return members.length;
  }
}
