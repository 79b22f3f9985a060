/**
 * Reads a V8 .cpuprofile (from `npm run bench -- fanout --profile`) and prints where the time
 * went: self time by function, and the share of time inside each file (inclusive of callees
 * only when on the stack under it). Usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]
 * [--long-turns MS]. With --long-turns, the busy stretches (consecutive samples not idle) of at
 * least MS ms: a stretch is about one turn of the event loop, so these are what makes the
 * loop late; each is listed with the entry points it ran (the frame under the root: a timer,
 * an immediate, a socket read) and the share of it spent in the garbage collector.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import { markdownTable } from './lib/results.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const DEFAULT_TOP = 25;

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url || '(native)';
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

export function summarizeProfile(profile: CpuProfile, top = DEFAULT_TOP): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const inclusiveByFile = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const node = byId.get(id);
    if (!node) return;
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + us);
    // Inclusive time per file: each file counted once per sample, wherever it is on the stack.
    const files = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      files.add(url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url.startsWith('node:') ? url : '(native/other)');
    }
    for (const file of files) inclusiveByFile.set(file, (inclusiveByFile.get(file) ?? 0) + us);
  });
  const pct = (us: number) => `${((us / total) * 100).toFixed(1)}%`;
  const selfRows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => [name, pct(us)]);
  const fileRows = [...inclusiveByFile].sort((a, b) => b[1] - a[1]).slice(0, top).map(([file, us]) => [file, pct(us)]);
  return [
    `total sampled: ${(total / 1000).toFixed(0)} ms`,
    '',
    markdownTable(['function (self time)', 'share'], selfRows),
    '',
    markdownTable(['file (on stack)', 'share'], fileRows),
  ].join('\n');
}

const IDLE = new Set(['(idle)']);

/** The frame of a stack that names what a turn ran: the deepest Node-internal frame's JS callee. */
function entryOf(id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const stack: ProfileNode[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
  stack.reverse();
  // stack[0] is (root); skip Node's own frames (timers, immediates, stream reads) to the first of ours.
  const ours = stack.find((n, i) => i > 0 && n.callFrame.url.startsWith('file://'));
  const special = stack[1]?.callFrame.functionName;
  if (special === '(garbage collector)') return '(garbage collector)';
  return ours ? frameName(ours) : stack[1] ? frameName(stack[1]) : '(root)';
}

/** Busy stretches of at least `minMs`: where the event loop's lateness comes from. */
export function longTurns(profile: CpuProfile, minMs: number, top = DEFAULT_TOP): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  interface Stretch { startUs: number; us: number; gcUs: number; entries: Map<string, number> }
  const stretches: Stretch[] = [];
  let current: Stretch | undefined;
  let atUs = 0;
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    atUs += us;
    const name = byId.get(id)?.callFrame.functionName ?? '';
    if (IDLE.has(name)) {
      if (current) stretches.push(current);
      current = undefined;
      return;
    }
    busyUs += us;
    current ??= { startUs: atUs, us: 0, gcUs: 0, entries: new Map() };
    current.us += us;
    if (name === '(garbage collector)') current.gcUs += us;
    const entry = entryOf(id, byId, parent);
    current.entries.set(entry, (current.entries.get(entry) ?? 0) + us);
  });
  if (current) stretches.push(current);
  const long = stretches.filter((s) => s.us >= minMs * 1000);
  const longUs = long.reduce((sum, s) => sum + s.us, 0);
  const byEntry = new Map<string, number>();
  for (const s of long) for (const [entry, us] of s.entries) byEntry.set(entry, (byEntry.get(entry) ?? 0) + us);
  const ms = (us: number) => (us / 1000).toFixed(1);
  const rows = [...long].sort((a, b) => b.us - a.us).slice(0, top).map((s) => [
    ms(s.startUs),
    ms(s.us),
    `${Math.round((s.gcUs / s.us) * 100)}%`,
    [...s.entries].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([e, us]) => `${e} ${ms(us)}`).join('; '),
  ]);
  const entryRows = [...byEntry].sort((a, b) => b[1] - a[1]).slice(0, top).map(([e, us]) => [e, ms(us), `${((us / longUs) * 100).toFixed(1)}%`]);
  return [
    `sampled ${ms(atUs)} ms, busy ${ms(busyUs)} ms in ${stretches.length} stretches; ${long.length} of at least ${minMs} ms (${ms(longUs)} ms)`,
    '',
    markdownTable(['at ms', 'length ms', 'GC', 'ran (ms)'], rows),
    '',
    markdownTable([`in stretches ≥ ${minMs} ms: entry`, 'ms', 'share'], entryRows),
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [file, ...flags] = argv;
  if (!file) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, 'usage: node bench/profile-summary.ts FILE.cpuprofile [--top N] [--long-turns MS]');
  const flag = (name: string) => {
    const at = flags.indexOf(name);
    return at < 0 ? undefined : Number(flags[at + 1]);
  };
  const top = flag('--top') ?? DEFAULT_TOP;
  const minMs = flag('--long-turns');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${minMs === undefined ? summarizeProfile(profile, top) : longTurns(profile, minMs, top)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`profile-summary: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
