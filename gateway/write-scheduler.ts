/**
 * One gateway's write scheduler: the end-of-turn flush of every connection's batch, and the
 * fan-out run cache. Each gateway owns one (several gateways may share a process, as in tests),
 * so no write state is shared between them.
 *
 * Connections with frames waiting (connection.ts) are queued here; one `setImmediate` at the
 * end of the event-loop turn writes each one's batch with a single socket write. setImmediate
 * (not a microtask) lets every publication that arrives in the same I/O phase join the batch,
 * and adds no timer delay.
 *
 * A fan-out usually gives many sockets the same run of frames, so the last run written is
 * remembered: when the next socket gets the identical run, its frames are joined once and that
 * buffer is written to it and every following socket with the same run.
 */
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import { checkedWsVersions, checkRawWrites, rawSocketOf, type RawSocket } from './ws-internals.ts';
import type { SharedFrame } from './ws-frame.ts';

/** A connection as the scheduler sees it. */
export interface TurnWriter {
  /** Writes what waited for the end of the turn. */
  endTurn(): void;
  /** `endTurn` threw: the connection cannot be written to any more. */
  writeFailed(error: unknown): void;
}

export class WriteScheduler {
  /** False when ws's internals failed the start-up check: every frame goes through `ws.send`. */
  readonly rawWrites: boolean;
  private readonly waiting: TurnWriter[] = [];
  private scheduled = false;
  // The last run of frames written, and its bytes joined once a second socket gets the same run.
  private lastRun: readonly SharedFrame[] = [];
  private lastRunJoined: Buffer | undefined;
  // Bound once: scheduling a flush allocates nothing but the Immediate.
  private readonly flushAll = (): void => this.flush();

  constructor(options: { rawWrites: boolean }) {
    this.rawWrites = options.rawWrites;
  }

  /**
   * A scheduler for a gateway: raw writes when ws's internals pass `check` (checkRawWrites by
   * default), else `ws.send` with one warning line naming what did not hold.
   */
  static checked(logger: Logger, check: () => readonly string[] = checkRawWrites): WriteScheduler {
    const problems = check();
    if (problems.length > 0) {
      logger.warn({ problems, checkedWsVersions }, 'ws internals are not as checked; writing through ws.send (no write coalescing, slower fan-out)');
    }
    return new WriteScheduler({ rawWrites: problems.length === 0 });
  }

  /** The socket to write `ws`'s frames to, or undefined when they go through `ws.send`. */
  socketFor(ws: WebSocket): RawSocket | undefined {
    return this.rawWrites ? rawSocketOf(ws) : undefined;
  }

  /** Calls `writer.endTurn()` at the end of this event-loop turn. Call once per turn per writer. */
  atEndOfTurn(writer: TurnWriter): void {
    this.waiting.push(writer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /**
   * Writes a run of frames to one socket in one syscall. A run that only this socket gets goes
   * out corked (one writev, no copy); a run identical to the previous socket's is joined once.
   */
  write(socket: RawSocket, frames: readonly SharedFrame[]): void {
    if (frames.length === 1) {
      socket.write(frames[0].frame);
      return;
    }
    if (sameRun(this.lastRun, frames)) {
      this.lastRunJoined ??= join(frames);
      socket.write(this.lastRunJoined);
      return;
    }
    this.lastRun = frames.slice();
    this.lastRunJoined = undefined;
    socket.cork();
    for (const shared of frames) socket.write(shared.frame);
    socket.uncork();
  }

  private flush(): void {
    this.scheduled = false;
    for (const writer of this.waiting) {
      try {
        writer.endTurn();
      } catch (error) {
        // One connection's failed write must not keep the others' batches from going out.
        writer.writeFailed(error);
      }
    }
    this.waiting.length = 0;
    // The run's frames are not held past the writes that used them.
    this.lastRun = [];
    this.lastRunJoined = undefined;
  }
}

function sameRun(a: readonly SharedFrame[], b: readonly SharedFrame[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function join(frames: readonly SharedFrame[]): Buffer {
  let total = 0;
  for (const shared of frames) total += shared.bytes;
  return Buffer.concat(
    frames.map((shared) => shared.frame),
    total,
  );
}
