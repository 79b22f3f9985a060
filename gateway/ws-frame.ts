/**
 * Frame once, write many: a message for N local subscribers is encoded and framed once, and
 * the same bytes are written to each socket.
 *
 * `Sender.frame` (static) and `sender.sendFrame` are exported by ws but missing from @types/ws,
 * hence the declarations below. Writing a pre-built frame bypasses ws's send queue, which is
 * only safe while that queue is idle: it is, as long as permessage-deflate is not negotiated
 * (the queue is used only while compressing or reading Blobs, which the gateway never sends).
 * Connections with deflate fall back to `ws.send`.
 *
 * Frames for one socket may also be joined and written together (`joinFrames`, `writeRaw`):
 * several messages, one syscall. A fan-out usually gives many sockets the same run of frames,
 * so the last join is kept and reused for the next socket whose run is identical.
 */
import * as wsModule from 'ws';
import type WebSocket from 'ws';

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}

interface SenderStatic {
  frame(data: Buffer, options: FrameOptions): Buffer[];
}

interface SenderInstance {
  sendFrame(list: Buffer[], cb?: (error?: Error) => void): void;
}

const Sender = (wsModule as unknown as { Sender: SenderStatic }).Sender;
if (typeof Sender?.frame !== 'function') throw new Error('ws no longer exports Sender.frame; update gateway/ws-frame.ts');
const textOpcode = 1;

/** One encoded message: the JSON bytes (for `ws.send` fallbacks) and its unmasked server frame. */
export interface SharedFrame {
  readonly payload: Buffer;
  /** Header and payload in one buffer: one socket write per subscriber instead of two. */
  readonly frame: Buffer[];
  readonly bytes: number;
}

export function frameText(payload: Buffer): SharedFrame {
  const parts = Sender.frame(payload, { fin: true, opcode: textOpcode, mask: false, readOnly: true, rsv1: false });
  const whole = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  return { payload, frame: [whole], bytes: whole.length };
}

export function encodeFrame(message: unknown): SharedFrame {
  return frameText(Buffer.from(JSON.stringify(message)));
}

/** True when the socket can take pre-built frames (no permessage-deflate negotiated). */
export function acceptsRawFrames(ws: WebSocket): boolean {
  return ws.extensions === '';
}

// The last run of frames joined, kept while the same run goes to socket after socket.
let lastJoined: readonly SharedFrame[] = [];
let lastJoinedBytes: Buffer | undefined;

function sameRun(a: readonly SharedFrame[], b: readonly SharedFrame[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The frames' bytes back to back; the same Buffer is returned again for an identical run. */
export function joinFrames(frames: readonly SharedFrame[]): Buffer {
  if (frames.length === 1) return frames[0].frame[0];
  if (lastJoinedBytes && sameRun(lastJoined, frames)) return lastJoinedBytes;
  let total = 0;
  for (const shared of frames) total += shared.bytes;
  const parts = frames.map((shared) => shared.frame[0]);
  lastJoined = frames.slice();
  lastJoinedBytes = Buffer.concat(parts, total);
  return lastJoinedBytes;
}

/** Drops the kept join, so its bytes are not held past the writes that used them. */
export function forgetJoinedFrames(): void {
  lastJoined = [];
  lastJoinedBytes = undefined;
}

/** Writes already-framed bytes straight to the socket (only when `acceptsRawFrames`). */
export function writeRaw(ws: WebSocket, data: Buffer): void {
  (ws as unknown as { _sender: SenderInstance })._sender.sendFrame([data]);
}
