/**
 * Reads server-to-client WebSocket frames (RFC 6455 §5.2) straight from the chunks a TCP socket
 * emits, so a delivery costs the load generator one header parse and one callback: no stream
 * `write()`, no receiver queue, no event emitter between the socket and the counter.
 *
 * Only what the benchmarked servers send is needed: unmasked text/binary frames (fragments are
 * joined), ping (answered by the caller), pong (ignored) and close, which ends reading: the close
 * frame and every byte after it go back to `ws` so its closing handshake runs as usual.
 * A message is handed over as a view into the chunk, valid only during the call (the caller may
 * read the next chunk into the same memory).
 */
export interface FrameSink {
  /** A complete text or binary message. */
  message(data: Buffer): void;
  ping(data: Buffer): void;
  /** A close frame arrived: `rest` starts with it. The reader reads nothing more. */
  closed(rest: Buffer): void;
  /** The server broke the framing rules (`BAD_FRAME`, `FRAME_TOO_BIG`); the reader reads nothing more. */
  failed(code: string, detail: string): void;
}

const FIN = 0x80;
const OPCODE = 0x0f;
const MASKED = 0x80;
const LENGTH = 0x7f;
const LENGTH_16 = 126;
const LENGTH_64 = 127;
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export class FrameReader {
  private readonly sink: FrameSink;
  private readonly maxPayloadBytes: number;
  /** The start of a frame whose bytes have not all arrived. */
  private partial: Buffer | undefined;
  /** Earlier fragments of a message still being received. */
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private stopped = false;

  constructor(sink: FrameSink, maxPayloadBytes: number) {
    this.sink = sink;
    this.maxPayloadBytes = maxPayloadBytes;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    const buffer = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = undefined;
    let at = 0;
    while (!this.stopped && buffer.length - at >= 2) {
      const first = buffer[at];
      const second = buffer[at + 1];
      if (second & MASKED) return this.fail('BAD_FRAME', 'the server sent a masked frame');
      let length = second & LENGTH;
      let header = 2;
      if (length === LENGTH_16) {
        if (buffer.length - at < 4) break;
        length = buffer.readUInt16BE(at + 2);
        header = 4;
      } else if (length === LENGTH_64) {
        if (buffer.length - at < 10) break;
        // Frames above 4 GiB are far beyond any maxPayload: treat a non-zero high word as too big.
        length = buffer.readUInt32BE(at + 2) === 0 ? buffer.readUInt32BE(at + 6) : Number.POSITIVE_INFINITY;
        header = 10;
      }
      if (length > this.maxPayloadBytes || this.fragmentBytes + length > this.maxPayloadBytes) {
        return this.fail('FRAME_TOO_BIG', `a frame of ${length} bytes exceeds maxPayload ${this.maxPayloadBytes}`);
      }
      if (buffer.length - at < header + length) break;
      const opcode = first & OPCODE;
      if (opcode === OP_CLOSE) {
        this.stopped = true;
        return this.sink.closed(buffer.subarray(at));
      }
      this.frame(opcode, (first & FIN) !== 0, buffer.subarray(at + header, at + header + length));
      at += header + length;
    }
    // Copied: the caller may reuse the chunk's memory for its next read.
    if (!this.stopped && at < buffer.length) this.partial = Buffer.from(buffer.subarray(at));
  }

  private frame(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.fragments.length > 0) return this.fail('BAD_FRAME', 'a new message began inside a fragmented one');
      if (fin) return this.sink.message(payload);
      this.keepFragment(payload);
    } else if (opcode === OP_CONTINUATION) {
      if (this.fragments.length === 0) return this.fail('BAD_FRAME', 'a continuation frame without a message');
      this.keepFragment(payload);
      if (!fin) return;
      const message = Buffer.concat(this.fragments, this.fragmentBytes);
      this.fragments = [];
      this.fragmentBytes = 0;
      this.sink.message(message);
    } else if (opcode === OP_PING) {
      this.sink.ping(payload);
    } else if (opcode !== OP_PONG) {
      this.fail('BAD_FRAME', `unknown opcode ${opcode}`);
    }
  }

  /** Fragments outlive their chunk, so they are copied. */
  private keepFragment(payload: Buffer): void {
    this.fragments.push(Buffer.from(payload));
    this.fragmentBytes += payload.length;
  }

  private fail(code: string, detail: string): void {
    this.stopped = true;
    this.partial = undefined;
    this.fragments = [];
    this.sink.failed(code, detail);
  }
}
