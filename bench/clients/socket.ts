/**
 * Opening and closing the client socket every protocol adapter uses (BenchSocket): one receive
 * path for every benchmarked system; only the envelope inside the frames differs.
 */
import { BenchSocket } from './bench-socket.ts';

export function openSocket(
  url: string,
  maxPayloadBytes: number,
  timeoutMs: number,
  onMessage: (data: Buffer, socket: BenchSocket) => void,
  onProblem: (code: string) => void,
  localAddress?: string,
): Promise<BenchSocket> {
  return BenchSocket.open(url, { maxPayloadBytes, timeoutMs, onMessage, onProblem, localAddress });
}

/** Closes the socket and waits for the server's close frame (so the server has processed it). */
export function closeSocket(socket: BenchSocket): Promise<void> {
  return socket.close();
}
