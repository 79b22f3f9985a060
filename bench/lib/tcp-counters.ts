/**
 * The kernel's TCP counters a connection storm can move (Linux /proc/net/netstat, this network
 * namespace, every process in it): listen-queue overflows and drops (the accept queue was full:
 * `somaxconn` or the server's backlog), and SYN retransmissions (a client's SYN went unanswered).
 * Another process's connections count too: read the difference around a step, on a machine
 * where little else connects.
 */
import { readFileSync } from 'node:fs';

export interface TcpCounters {
  listenOverflows: number;
  listenDrops: number;
  synRetransmits: number;
}

const FIELDS: Record<keyof TcpCounters, string> = { listenOverflows: 'ListenOverflows', listenDrops: 'ListenDrops', synRetransmits: 'TCPSynRetrans' };

export function tcpCounters(): TcpCounters | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/netstat', 'utf8');
  } catch {
    // Not Linux: no counters to report.
    return undefined;
  }
  const lines = text.split('\n').filter((line) => line.startsWith('TcpExt:'));
  if (lines.length < 2) return undefined;
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/).map(Number);
  const read = (name: string) => values[names.indexOf(name)] ?? 0;
  return { listenOverflows: read(FIELDS.listenOverflows), listenDrops: read(FIELDS.listenDrops), synRetransmits: read(FIELDS.synRetransmits) };
}

export function tcpDelta(before: TcpCounters | undefined, after: TcpCounters | undefined): TcpCounters | undefined {
  if (!before || !after) return undefined;
  return {
    listenOverflows: after.listenOverflows - before.listenOverflows,
    listenDrops: after.listenDrops - before.listenDrops,
    synRetransmits: after.synRetransmits - before.synRetransmits,
  };
}
