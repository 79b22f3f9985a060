/**
 * Sockets that have not completed `connect` yet, counted apart from connected ones: a client
 * that opens sockets and never authenticates holds at most `limits.maxAnonymousSockets` of
 * them node-wide and `limits.maxAnonymousSocketsPerAddress` from its address, and never counts
 * against `limits.maxConnections`, so it cannot keep real users out. Checked at the upgrade,
 * before the WebSocket handshake, so a refused socket costs no connection state.
 */
import type { ErrorCode } from './errors.ts';

export interface AnonymousLimits {
  maxAnonymousSockets: number;
  maxAnonymousSocketsPerAddress: number;
}

export interface AnonymousRefusal {
  code: Extract<ErrorCode, 'OVERLOADED' | 'LIMIT_EXCEEDED'>;
  /** Label of meridian_refusals_total. */
  reason: 'anonymous_sockets' | 'anonymous_sockets_per_address';
  message: string;
}

export class AnonymousSockets<Socket extends object> {
  private readonly limits: AnonymousLimits;
  private readonly addressOf = new Map<Socket, string>();
  private readonly perAddress = new Map<string, number>();

  constructor(limits: AnonymousLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.addressOf.size;
  }

  /** Why a new socket from `address` must be refused, or undefined when it may be accepted. */
  refusal(address: string): AnonymousRefusal | undefined {
    const { maxAnonymousSockets, maxAnonymousSocketsPerAddress } = this.limits;
    if ((this.perAddress.get(address) ?? 0) >= maxAnonymousSocketsPerAddress) {
      return { code: 'LIMIT_EXCEEDED', reason: 'anonymous_sockets_per_address', message: `this address holds ${maxAnonymousSocketsPerAddress} sockets that have not sent connect` };
    }
    if (this.addressOf.size >= maxAnonymousSockets) {
      return { code: 'OVERLOADED', reason: 'anonymous_sockets', message: `node holds ${maxAnonymousSockets} sockets that have not sent connect; retry later` };
    }
    return undefined;
  }

  add(socket: Socket, address: string): void {
    if (this.addressOf.has(socket)) return;
    this.addressOf.set(socket, address);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  /** The socket connected or closed. Idempotent. */
  release(socket: Socket): void {
    const address = this.addressOf.get(socket);
    if (address === undefined) return;
    this.addressOf.delete(socket);
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(address, left);
    else this.perAddress.delete(address);
  }
}
