/**
 * Where an idle connection's heap goes. With N given alone: starts a Meridian gateway (as the
 * benchmarks do, with --heapsnapshot-signal), takes a heap snapshot, opens N authenticated,
 * subscribed connections in rooms of 50 from a load generator, takes a second one, and prints
 * the difference summed by constructor, divided by N. With two snapshot files: compares those.
 *   node --expose-gc bench/heap-by-constructor.ts 3000 [--top K]
 *   node bench/heap-by-constructor.ts BEFORE.heapsnapshot AFTER.heapsnapshot N [--top K]
 * A snapshot is taken after a full GC, so only what is retained counts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, SourceAddresses } from './lib/fleet.ts';
import { SYSTEMS, startServer } from './systems.ts';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function totals(path: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const byName = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    // Strings and code are summed by type: their names are their contents.
    const name = type === 'object' || type === 'closure' ? `${type} ${snap.strings[snap.nodes[i + nameAt]]}` : `(${type})`;
    const entry = byName.get(name) ?? { bytes: 0, count: 0 };
    entry.bytes += snap.nodes[i + sizeAt];
    entry.count += 1;
    byName.set(name, entry);
  }
  return byName;
}

const ROOM_SIZE = 50;
/** A snapshot file appears at once and grows while V8 writes it. */
const WRITE_WAIT_MS = 3000;

/** Snapshots of a fresh gateway before and after `count` connections; returns their paths. */
async function snapshots(count: number): Promise<[string, string]> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-heap-'));
  const secret = randomBytes(32).toString('hex');
  const nodeFlags = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`];
  const server = await startServer(SYSTEMS.meridian, { secret, fileDescriptors: count + 512, readyTimeoutMs: 30_000, nodeFlags });
  const client = { protocol: 'meridian' as const, secret, replyTimeoutMs: 30_000, maxPayloadBytes: 1 << 20, connectConcurrency: 100 };
  const fleet = Fleet.start({ generators: 1, connectionsPerGenerator: count + ROOM_SIZE, addressesPerGenerator: 1, sources: new SourceAddresses(), client, label: 'heap' });
  const snap = async () => {
    const before = readdirSync(dir).length;
    process.kill(server.process.pid, 'SIGUSR2');
    while (readdirSync(dir).length === before) await sleep(200);
    await sleep(WRITE_WAIT_MS);
  };
  try {
    await fleet.publishers([server.baseUrl]);
    await snap();
    const rooms = Array.from({ length: Math.ceil(count / ROOM_SIZE) }, (_, i) => `heap-${i}`);
    await fleet.open(rooms, ROOM_SIZE, [server.baseUrl], 100, 0);
    await snap();
  } finally {
    await fleet.stop();
    await server.process.stop();
  }
  const files = readdirSync(dir).sort().map((f) => join(dir, f));
  return [files[0], files[1]];
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;
const positional = topAt >= 0 ? args.slice(0, topAt) : args;
let beforePath: string;
let afterPath: string;
let count: number;
if (positional.length === 1) {
  count = Math.ceil(Number(positional[0]) / ROOM_SIZE) * ROOM_SIZE;
  [beforePath, afterPath] = await snapshots(count);
  process.stderr.write(`snapshots: ${beforePath}, ${afterPath}\n`);
} else {
  [beforePath, afterPath] = positional;
  count = Number(positional[2]);
}
if (!beforePath || !afterPath || !(count > 0)) {
  process.stderr.write('usage: node bench/heap-by-constructor.ts N | BEFORE.heapsnapshot AFTER.heapsnapshot N [--top K]\n');
  process.exit(2);
}
const before = totals(beforePath);
const after = totals(afterPath);
const rows = [...after].map(([name, a]) => {
  const b = before.get(name) ?? { bytes: 0, count: 0 };
  return { name, bytesPerConnection: (a.bytes - b.bytes) / count, objectsPerConnection: (a.count - b.count) / count };
});
rows.sort((x, y) => y.bytesPerConnection - x.bytesPerConnection);
const total = rows.reduce((n, r) => n + r.bytesPerConnection, 0);
process.stdout.write(`| constructor | bytes per connection | objects per connection |\n|---|---|---|\n`);
for (const r of rows.slice(0, top)) process.stdout.write(`| ${r.name.replace(/\|/g, '\\|').slice(0, 60)} | ${r.bytesPerConnection.toFixed(0)} | ${r.objectsPerConnection.toFixed(2)} |\n`);
process.stdout.write(`| total | ${total.toFixed(0)} | |\n`);
