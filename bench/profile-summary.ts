/**
 * Reads a V8 .cpuprofile (from `npm run bench -- fanout --profile`) and prints where the time
 * went: self time by function, and the share of time inside each file (inclusive of callees
 * only when on the stack under it). Usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]
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

async function main(argv: string[]): Promise<void> {
  const [file, flag, value] = argv;
  if (!file) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, 'usage: node bench/profile-summary.ts FILE.cpuprofile [--top N]');
  const top = flag === '--top' ? Number(value) : DEFAULT_TOP;
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${summarizeProfile(profile, top)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`profile-summary: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
