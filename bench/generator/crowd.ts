/**
 * Many subscribers in many rooms, for the connections benchmark: opened at a paced rate from
 * several loopback source addresses (each has its own ephemeral port range), spread over one or
 * more servers, one room per connection. A storm drops some of them at once (TCP cut, no close
 * handshake) and brings each back after a random delay with `recover` from the last message it
 * received, so every message still reaches it once, in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import type { BenchConnection, ConnectOptions, ClientProtocol, StreamPosition } from '../clients/types.ts';
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
  /** Undefined while the member is away (cut, or closed by the server) and coming back. */
  connection?: BenchConnection;
  options: ConnectOptions;
  room: string;
  state: SubscriberState;
  /** Where it stood when it went away: it comes back with recover from here. */
  lastPosition?: StreamPosition;
}

/** What the server did to the crowd on its own, and how the crowd came back (as real clients do). */
export interface CrowdHealth {
  /** Closes the generator did not ask for, by close code. */
  serverCloses: Record<string, number>;
  /** Members that came back after such a close (with recover where the protocol has it). */
  reconnected: number;
  /** Failed attempts of those comebacks, by cause. */
  reconnectErrors: Record<string, number>;
  /** Comebacks whose recovery answered recovered:false. */
  notRecovered: number;
  /** Members still away. */
  away: number;
}

/** A member the server closed comes back after a random delay below this (clients back off with jitter). */
const RECONNECT_JITTER_MS = 2_000;
const RECONNECT_ATTEMPTS = 10;
const RECONNECT_RETRY_MS = 500;

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
  private readonly health: CrowdHealth = { serverCloses: {}, reconnected: 0, reconnectErrors: {}, notRecovered: 0, away: 0 };
  private stopping = false;

  constructor(connect: ClientProtocol, optionsFor: (baseUrl: string, state: SubscriberState) => ConnectOptions) {
    this.connect = connect;
    this.optionsFor = optionsFor;
  }

  get size(): number {
    return this.members.length;
  }

  status(): CrowdHealth {
    return { ...this.health, away: this.members.filter((m) => !m.connection).length };
  }

  /**
   * One connection attempt for `member`: connects and subscribes (with recover from `from` when
   * given). Resolves to the reply's `recovered` (true without recover). A later close the
   * generator did not ask for sends the member on its way back.
   */
  private async attempt(member: Member, from?: StreamPosition): Promise<boolean> {
    let connection: BenchConnection | undefined;
    const options: ConnectOptions = {
      ...member.options,
      onClosed: (code) => {
        if (connection && member.connection === connection) this.lost(member, code);
      },
    };
    try {
      connection = await this.connect(options);
      const recovered = from && connection.resubscribe ? await connection.resubscribe(member.room, from) : (await connection.subscribe(member.room), true);
      member.connection = connection;
      return recovered;
    } catch (error) {
      connection?.terminate();
      throw error;
    }
  }

  /** The server closed `member` (or the network dropped it): back after a random delay, with recover. */
  private lost(member: Member, code: number): void {
    this.health.serverCloses[code] = (this.health.serverCloses[code] ?? 0) + 1;
    member.lastPosition = member.connection?.position?.() ?? member.lastPosition;
    member.connection = undefined;
    if (this.stopping) return;
    this.comeBack(member, RECONNECT_JITTER_MS, RECONNECT_RETRY_MS, RECONNECT_ATTEMPTS, this.health.reconnectErrors)
      .then((recovered) => {
        this.health.reconnected += 1;
        if (!recovered) this.health.notRecovered += 1;
      })
      .catch((error: unknown) => process.emitWarning(`a member closed by the server did not come back: ${(error as Error).message}`));
  }

  /** Waits a random delay below `jitterMs`, then attempts until one works (up to `attempts`). */
  private async comeBack(member: Member, jitterMs: number, retryMs: number, attempts: number, errors: Record<string, number>): Promise<boolean> {
    await sleep(Math.random() * jitterMs);
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return false;
      try {
        return await this.attempt(member, member.lastPosition);
      } catch (error) {
        const code = errorCode(error);
        errors[code] = (errors[code] ?? 0) + 1;
        if (attempt >= attempts) throw new BenchError(BenchErrorCode.CLIENT_FAILED, `a client did not come back in ${attempt} attempts: ${(error as Error).message}`);
        // A refusal that says when to come back (OVERLOADED's retryAfterMs) is taken at its word.
        const hint = (error as { retryAfterMs?: number }).retryAfterMs;
        await sleep(hint ?? retryMs * attempt + Math.random() * retryMs);
      }
    }
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
        const member: Member = { options: { ...this.optionsFor(baseUrl, state), localAddress }, room, state };
        for (let attempt = 1; ; attempt++) {
          try {
            await this.attempt(member);
            this.members.push(member);
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

  /** Cuts the first `count` members at once (no close handshake), then brings each back with recover. */
  async storm(request: StormRequest): Promise<StormResult> {
    const victims = this.members.slice(0, Math.min(request.count, this.members.length)).filter((m) => m.connection);
    for (const member of victims) {
      member.lastPosition = member.connection!.position?.();
      if (!member.lastPosition) throw new BenchError(BenchErrorCode.PROTOCOL, 'a storm needs connections that track their position (Meridian, trackPosition)');
    }
    const dropped = performance.now();
    for (const member of victims) {
      const connection = member.connection!;
      member.connection = undefined;
      connection.terminate();
    }
    const errors: Record<string, number> = {};
    const backAt: number[] = [];
    let notRecovered = 0;
    await Promise.all(
      victims.map(async (member) => {
        if (!(await this.comeBack(member, request.jitterMs, request.retryMs, request.attempts, errors))) notRecovered++;
        backAt.push(performance.now() - dropped);
      }),
    );
    backAt.sort((a, b) => a - b);
    const at = (p: number) => Math.round(backAt[Math.min(backAt.length - 1, Math.ceil((p / 100) * backAt.length) - 1)] ?? 0);
    return { dropped: victims.length, back: backAt.length, allBackMs: at(100), backP50Ms: at(50), backP99Ms: at(99), notRecovered, errors };
  }

  async closeAll(concurrency: number): Promise<number> {
    this.stopping = true;
    const members = this.members.splice(0);
    let next = 0;
    const worker = async () => {
      while (next < members.length) await members[next++].connection?.close();
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, members.length) }, worker));
    return members.length;
  }
}
