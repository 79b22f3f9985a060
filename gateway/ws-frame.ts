/**
 * Frame once, write many: a message for N local subscribers is encoded and framed once, and
 * the same bytes are written to each socket.
 *
 * `Sender.frame` (static) and `sender.sendFrame` are exported by ws but missing from @types/ws,
 * hence the declarations below. Writing a pre-built frame bypasses ws's send queue, which is
 * only safe while that queue is idle: it is, as long as permessage-deflate is not negotiated
 * (the queue is used only while compressing or reading Blobs, which the gateway never sends).
 * Connections with deflate fall back to `ws.send`.
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

/**
 * Writes a pre-built frame straight to the socket when `raw` (from `acceptsRawFrames`, fixed
 * at the handshake), else through `ws.send` (see the module comment).
 */
export function writeFrame(ws: WebSocket, shared: SharedFrame, raw: boolean): void {
  if (raw) (ws as unknown as { _sender: SenderInstance })._sender.sendFrame(shared.frame);
  else ws.send(shared.payload, { binary: false });
}
