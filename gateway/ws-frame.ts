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
 * Several frames for one socket can be written with one syscall (`writeFrames`). A fan-out
 * usually gives many sockets the same run of frames, so that run is joined once and reused.
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

interface RawSocket {
  cork(): void;
  uncork(): void;
}

function senderOf(ws: WebSocket): SenderInstance {
  return (ws as unknown as { _sender: SenderInstance })._sender;
}

// The last run of frames written, and its bytes joined once a second socket gets the same run.
let lastRun: readonly SharedFrame[] = [];
let lastRunJoined: Buffer | undefined;

function sameRun(a: readonly SharedFrame[], b: readonly SharedFrame[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function join(frames: readonly SharedFrame[]): Buffer {
  let total = 0;
  for (const shared of frames) total += shared.bytes;
  return Buffer.concat(
    frames.map((shared) => shared.frame[0]),
    total,
  );
}

/**
 * Writes a run of pre-built frames to one socket in one syscall (only when `acceptsRawFrames`).
 * A run that only this socket gets goes out corked (one writev, no copy); when the next socket
 * gets the identical run (a fan-out), the frames are joined once and that buffer is written
 * to it and every following socket with the same run.
 */
export function writeFrames(ws: WebSocket, frames: readonly SharedFrame[]): void {
  const sender = senderOf(ws);
  if (frames.length === 1) {
    sender.sendFrame(frames[0].frame);
    return;
  }
  if (sameRun(lastRun, frames)) {
    lastRunJoined ??= join(frames);
    sender.sendFrame([lastRunJoined]);
    return;
  }
  lastRun = frames.slice();
  lastRunJoined = undefined;
  const socket = (ws as unknown as { _socket: RawSocket })._socket;
  socket.cork();
  for (const shared of frames) sender.sendFrame(shared.frame);
  socket.uncork();
}

/** Forgets the last run, so its frames are not held past the writes that used them. */
export function forgetLastRun(): void {
  lastRun = [];
  lastRunJoined = undefined;
}
