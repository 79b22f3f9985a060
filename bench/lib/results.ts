/**
 * Where results go: the whole record as JSON under bench/results/<name>.json (or --out), and a
 * markdown table on stdout. The record carries the machine and the options, so a number is
 * never read without knowing where it came from.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryMiB: number;
  freeMemoryMiB: number;
  loadAverage1m: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpuModel: cores[0]?.model ?? 'unknown',
    cores: cores.length,
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(freemem() / 2 ** 20),
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export interface SourceInfo {
  commit: string;
  /** Files under gateway/ and bench/ that differed from the commit when the run started. */
  uncommitted: string[];
}

/** Which code was measured: the gateway changes between runs, so a result names its commit. */
export function sourceInfo(): SourceInfo {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: join(RESULTS_DIR, '..', '..'), encoding: 'utf8' });
  const head = git('rev-parse', 'HEAD');
  const status = git('status', '--porcelain', '--', 'gateway', 'bench');
  return {
    commit: head.status === 0 ? head.stdout.trim() : 'unknown (not a git checkout)',
    uncommitted: status.status === 0 ? status.stdout.split('\n').filter(Boolean).map((line) => line.slice(3)).filter((path) => !path.startsWith('bench/results/')) : [],
  };
}

/** What every multi-round run records before it starts: when, on what machine, which code. */
export interface RunHeader {
  startedAt: string;
  machine: MachineInfo;
  source: SourceInfo;
}

export function runHeader(): RunHeader {
  return { startedAt: new Date().toISOString(), machine: machineInfo(), source: sourceInfo() };
}

/**
 * Builds a multi-round run's record (header, `fields`, then the rounds), says loudly when the
 * code changed between rounds (they did not measure the same thing), and writes it.
 */
export async function saveRunRecord<F extends object, R extends { source: SourceInfo }>(
  benchmark: string,
  header: RunHeader,
  fields: F,
  rounds: R[],
  outPath?: string,
): Promise<{ record: RunHeader & F & { benchmark: string; finishedAt: string; sourceChangedDuringRun: boolean; rounds: R[] }; path: string }> {
  const sourceChangedDuringRun = new Set(rounds.map((r) => JSON.stringify(r.source))).size > 1;
  const { startedAt, machine, source } = header;
  const record = { benchmark, startedAt, finishedAt: new Date().toISOString(), machine, source, sourceChangedDuringRun, ...fields, rounds };
  if (sourceChangedDuringRun) process.stderr.write('WARNING: the code changed between rounds (see rounds[].source): the rounds did not measure the same gateway\n');
  return { record, path: await writeResult(benchmark, record, outPath) };
}

export async function writeResult(name: string, record: unknown, outPath?: string): Promise<string> {
  const path = outPath || join(RESULTS_DIR, `${name}.json`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (value: string | number) => (typeof value === 'number' ? (Number.isFinite(value) ? String(value) : 'n/a') : value);
  const lines = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** Round r (0-based) runs the systems rotated by r, so each system goes first once in three rounds. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
