/**
 * Recovery on subscribe, page by page: what a client missed while disconnected is read from
 * history in pages of at most `pageBytes`, so a recovery larger than the outbound cap is never
 * one refused reply (4008) but a `subscribed` reply with the first page and `more:true`,
 * followed by the rest as `message` pushes, each page sent once the client has read enough of
 * the previous one. The hub keeps buffering live publications for the connection meanwhile
 * (it is still subscribing), so the client sees every offset once, in order.
 */
import type { Connection } from './connection.ts';
import type { History, Publication } from './engine/types.ts';
import { gatewayError } from './errors.ts';
import { fitPage } from './operations.ts';
import type { RecoverPosition } from './protocol.ts';
import { encodeFrame } from './ws-frame.ts';

export interface RecoveryOptions {
  history: History;
  /** A gap longer than this answers recovered:false. */
  maxRecover: number;
  /** Bytes of one page (operations.ts historyPageBytes). */
  pageBytes: number;
}

/** The first page of a recovery. */
export interface RecoveryStart {
  epoch: string;
  /** The room's top offset when the recovery started: the pages run up to it. */
  top: number;
  recovered: boolean;
  /** With recovered:true, the first page (oldest first); empty otherwise. */
  publications: Publication[];
  /** The offset the client holds after `publications`. */
  offset: number;
}

/** Reads the first page after `recover`; recovered:false when the epoch changed or the gap is too long or gone. */
export async function startRecovery(options: RecoveryOptions, room: string, recover: RecoverPosition): Promise<RecoveryStart> {
  const { history, maxRecover, pageBytes } = options;
  const page = await history.read(room, { since: recover.offset, limit: maxRecover, maxBytes: pageBytes });
  const gap = page.offset - recover.offset;
  const fitting = page.publications.slice(0, fitPage(page.publications, pageBytes).messages.length);
  const recovered = page.epoch === recover.epoch && gap >= 0 && gap <= maxRecover && isRun(recover.offset, fitting, gap > 0);
  if (!recovered) return { epoch: page.epoch, top: page.offset, recovered: false, publications: [], offset: page.offset };
  return { epoch: page.epoch, top: page.offset, recovered: true, publications: fitting, offset: fitting.at(-1)?.offset ?? recover.offset };
}

/**
 * Sends the pages after `start` up to its `top` as `message` pushes, each once the client has
 * room for it. Returns the offset reached. Rejects when the connection closed or left the room
 * (`holds()` turned false); closes it with 4010 when history lost the messages meanwhile (the
 * client resubscribes with recover from the last message it got).
 */
export async function sendRemainingPages(options: RecoveryOptions, room: string, conn: Connection, start: RecoveryStart, holds: () => boolean): Promise<number> {
  const { history, pageBytes } = options;
  let offset = start.offset;
  while (offset < start.top) {
    if (!(await conn.whenWritable(pageBytes)) || !holds()) throw new Error('connection closed during recovery');
    const page = await history.read(room, { since: offset, limit: start.top - offset, maxBytes: pageBytes });
    if (!holds()) throw new Error('connection closed during recovery');
    const { messages } = fitPage(page.publications, pageBytes);
    const publications = page.publications.slice(0, messages.length);
    if (page.epoch !== start.epoch || !isRun(offset, publications, true)) {
      conn.close('INSUFFICIENT_STATE', `messages lost in ${room} during recovery`);
      throw gatewayError('UNAVAILABLE', 'history changed during recovery');
    }
    for (const view of messages) conn.sendShared(encodeFrame({ op: 'message', ...view }));
    offset = publications.at(-1)!.offset;
  }
  return offset;
}

/** True when `publications` continue `since` without a hole (and hold one at least when `needOne`). */
function isRun(since: number, publications: readonly Publication[], needOne: boolean): boolean {
  if (publications.length === 0) return !needOne;
  return publications[0].offset === since + 1 && publications.at(-1)!.offset === since + publications.length;
}

/** True when `publications` hold every offset in (since, top], oldest first. */
export function isComplete(since: number, top: number, publications: readonly Publication[]): boolean {
  if (since > top) return false;
  if (since === top) return true;
  return publications.length === top - since && publications[0].offset === since + 1 && publications.at(-1)!.offset === top;
}
