/**
 * Frame once, write many: a message for N local subscribers is encoded and framed once, and
 * the same bytes are written to each socket (write-scheduler.ts).
 *
 * A frame here is what RFC 6455 §5.2 defines for a server's text message: FIN and the text
 * opcode, the payload length (7 bits, or 126 + 16 bits, or 127 + 64 bits), no mask (servers
 * never mask) and no extension bits (the frames are only written raw when permessage-deflate
 * is off). Building the header needs nothing from ws, so this file does not depend on it.
 */

/** One encoded message: the JSON bytes (for `ws.send` fallbacks) and its server frame. */
export interface SharedFrame {
  readonly payload: Buffer;
  /** Header and payload in one buffer: one socket write per subscriber instead of two. */
  readonly frame: Buffer;
  readonly bytes: number;
}

const finText = 0x81;
const maxShortLength = 125;
const length16 = 126;
const length64 = 127;

function headerLength(payloadLength: number): number {
  if (payloadLength <= maxShortLength) return 2;
  return payloadLength <= 0xffff ? 4 : 10;
}

export function frameText(payload: Buffer): SharedFrame {
  const length = payload.length;
  const header = headerLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = finText;
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = length16;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = length64;
    // Lengths stay far below 2^53: the high word is written as a number, not a BigInt.
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, header);
  return { payload, frame, bytes: frame.length };
}

export function encodeFrame(message: unknown): SharedFrame {
  return frameText(Buffer.from(JSON.stringify(message)));
}
