/**
 * The load generator's WebSocket client (RFC 6455, client side, no extensions), used for every
 * benchmarked system alike. It exists for the receive path: the TCP socket is opened with
 * `onread`, so every read lands in one reused buffer and goes straight to FrameReader — no buffer
 * allocated per read, no stream `push`, no 'data' event. On 2 cores the generator competes with
 * the server for CPU; with `ws` and a fresh buffer per read it spent more per delivery than some
 * servers spent sending it. Sending (commands, publishes) is rare and kept simple.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { FrameReader } from './frame-reader.ts';

export interface BenchSocketOptions {
  /** Largest frame accepted from the server. */
  maxPayloadBytes: number;
  /** Longest wait for the upgrade response, and for the server's close frame when closing. */
  timeoutMs: number;
  /** A complete text or binary message; the buffer is only valid during the call. */
  onMessage(data: Buffer, socket: BenchSocket): void;
  /** A framing error from the server, as a stable code. */
  onProblem(code: string): void;
  /** Source address of the TCP connection (127.0.0.2, …): each has its own ephemeral port range. */
  localAddress?: string;
}

/** Every socket reads into this one buffer: reads never overlap, each is consumed before the next. */
const READ_BUFFER_BYTES = 64 * 1024;
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/** An upgrade response is a few hundred bytes; more means something else answered. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PONG = 0xa;
const CLOSE_NORMAL = 1000;
const CLOSE_NO_STATUS = 1005;
const CLOSE_ABNORMAL = 1006;

/** One masked client frame (clients must mask, RFC 6455 §5.3). */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const header = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  const mask = frame.subarray(header - 4, header);
  randomFillSync(mask);
  for (let i = 0; i < length; i++) frame[header + i] = payload[i] ^ mask[i & 3];
  return frame;
}

export class BenchSocket extends EventEmitter<{ close: [code: number]; error: [error: Error] }> {
  private readonly tcp: Socket;
  private readonly closeTimeoutMs: number;
  private closeCode = CLOSE_ABNORMAL;
  private closeSent = false;

  private constructor(tcp: Socket, closeTimeoutMs: number) {
    super();
    this.tcp = tcp;
    this.closeTimeoutMs = closeTimeoutMs;
  }

  /** Opens `url` (ws://host:port/path) and resolves once the server has accepted the upgrade. */
  static open(url: string, options: BenchSocketOptions): Promise<BenchSocket> {
    const target = new URL(url);
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
    return new Promise((resolve, reject) => {
      let handshake: Buffer | undefined = Buffer.alloc(0);
      let reader: FrameReader | undefined;
      const fail = (error: Error) => {
        clearTimeout(timer);
        tcp.destroy();
        reject(new BenchError(BenchErrorCode.CLIENT_FAILED, `cannot open ${url}: ${error.message}`, { cause: error }));
      };
      const onRead = (nread: number, buffer: Buffer): boolean => {
        const bytes = buffer.subarray(0, nread);
        if (reader) {
          reader.push(bytes);
          return true;
        }
        handshake = Buffer.concat([handshake!, bytes]);
        const end = handshake.indexOf(HEADER_END);
        if (end < 0) {
          if (handshake.length > MAX_HANDSHAKE_BYTES) fail(new Error(`no end of the upgrade response in ${handshake.length} bytes`));
          return true;
        }
        const head = handshake.toString('latin1', 0, end);
        const rest = handshake.subarray(end + HEADER_END.length);
        handshake = undefined;
        const status = head.slice(0, head.indexOf('\r\n'));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
        if (!/^HTTP\/1\.1 101 /.test(status) || accept !== expectedAccept) {
          fail(new Error(accept === undefined ? `upgrade refused: ${status}` : 'wrong Sec-WebSocket-Accept'));
          return false;
        }
        clearTimeout(timer);
        tcp.off('error', fail);
        const socket = new BenchSocket(tcp, options.timeoutMs);
        socket.attach();
        reader = socket.reader(options);
        resolve(socket);
        // Frames that came with the upgrade response (Engine.IO's open packet) are read now.
        if (rest.length > 0) reader.push(rest);
        return true;
      };
      const tcp = connect({ host: target.hostname, port: Number(target.port), localAddress: options.localAddress, onread: { buffer: readBuffer, callback: onRead } });
      const timer = setTimeout(() => fail(new Error(`no upgrade response within ${options.timeoutMs} ms`)), options.timeoutMs);
      tcp.setNoDelay(true);
      tcp.once('error', fail);
      tcp.once('connect', () => {
        tcp.write(
          `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  /** Bytes accepted by `send` but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.tcp.writableLength;
  }

  send(text: string): void {
    if (this.closeSent || this.tcp.destroyed) return;
    this.tcp.write(encodeFrame(OP_TEXT, Buffer.from(text)));
  }

  /** Sends a close frame and waits until the server has answered and the TCP socket is closed. */
  close(code = CLOSE_NORMAL): Promise<void> {
    if (this.tcp.destroyed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => {
      // A server that never answers the close frame is dropped, as ws does after its close timeout.
      const timer = setTimeout(() => this.tcp.destroy(), this.closeTimeoutMs);
      this.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.sendClose(code);
    return closed;
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    this.tcp.destroy();
  }

  private attach(): void {
    // A close frame that came with the upgrade response is answered before the caller has
    // attached its 'error' handler; a failed write then (EPIPE) must not crash the process: the
    // 'close' that follows reports it.
    this.tcp.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    this.tcp.once('close', () => this.emit('close', this.closeCode));
  }

  private reader(options: BenchSocketOptions): FrameReader {
    return new FrameReader(
      {
        message: (data) => options.onMessage(data, this),
        ping: (data) => this.tcp.write(encodeFrame(OP_PONG, data)),
        closed: (rest) => {
          this.closeCode = rest.length >= 4 && (rest[1] & 0x7f) >= 2 ? rest.readUInt16BE(2) : CLOSE_NO_STATUS;
          // Answer the server's close (or end after our own was answered); the server closes TCP.
          this.sendClose(this.closeCode === CLOSE_NO_STATUS ? CLOSE_NORMAL : this.closeCode);
          this.tcp.end();
        },
        failed: (code, detail) => {
          options.onProblem(code);
          process.emitWarning(`bench client dropped a connection: ${detail}`);
          this.tcp.destroy();
        },
      },
      options.maxPayloadBytes,
    );
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const payload = Buffer.allocUnsafe(2);
    payload.writeUInt16BE(code, 0);
    this.tcp.write(encodeFrame(OP_CLOSE, payload));
  }
}
