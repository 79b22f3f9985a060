/**
 * One benchmark client per system, all on the same client (BenchSocket) so the load generator costs
 * the same whatever it talks to: only the framing of commands differs. A delivery is handed
 * over as the raw frame; the counter finds the bench fields in it without parsing JSON.
 */
/** The field every bench payload starts with (`{"bs":<seq>,"bt":<µs>,…`): how a delivery is told from a reply. */
export const BENCH_FIELD = Buffer.from('"bs":');

export interface ConnectOptions {
  /** ws://host:port (the protocol adds its own path). */
  baseUrl: string;
  /** Distinct per connection, so per-user connection limits do not interfere. */
  user: string;
  /** HS256 secret for systems that authenticate (Meridian). */
  secret?: string;
  /** How long a connect or subscribe may wait for its reply. */
  replyTimeoutMs: number;
  /** Largest frame the client accepts. */
  maxPayloadBytes: number;
  /** Meridian only: remember the last message's position (for `position()` and a resubscribe). */
  trackPosition?: boolean;
  /** Source address to connect from (several loopback addresses lift the ephemeral port limit). */
  localAddress?: string;
  /** A frame carrying a bench payload, with the offset of its BENCH_FIELD (found once, read from there). */
  onDelivery(frame: Buffer, benchFieldAt: number): void;
  /** The server acknowledged a publish. */
  onAck(): void;
  /** An error frame or an unexpected close, as a stable code (server code or CLOSE_<n>). */
  onProblem(code: string): void;
  /** The connection closed without this side asking (the server closed it, or the network dropped it). */
  onClosed?(code: number): void;
}

/** Where a subscriber stands in a room: the last message it received (Meridian's recover position). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

export interface BenchConnection {
  subscribe(room: string): Promise<void>;
  /**
   * Meridian only: subscribes asking for every message after `from`; the recovered messages
   * reach `onDelivery` before the promise resolves. Resolves to the reply's `recovered`.
   */
  resubscribe?(room: string, from: StreamPosition): Promise<boolean>;
  /** Meridian only: the position of the last message received (connections in one room). */
  position?(): StreamPosition | undefined;
  /** `payloadJson` is a JSON object literal, sent as the message's data. */
  publish(room: string, payloadJson: string): void;
  /** Bytes queued in the client socket: a publisher waits when this grows. */
  bufferedAmount(): number;
  close(): Promise<void>;
  /** Drops the TCP connection without a closing handshake (a client that vanished). */
  terminate(): void;
}

export type ClientProtocol = (options: ConnectOptions) => Promise<BenchConnection>;

export const PROTOCOL_NAMES = ['meridian', 'socketio', 'rawws'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];
