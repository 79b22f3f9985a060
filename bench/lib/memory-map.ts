/**
 * Where a process's resident memory lies, from /proc/PID/smaps (Linux only): what V8 reports
 * (heap, external) covers only part of RSS, and the rest must be told apart before it can be cut.
 *
 * - `fileBackedMiB`: mapped files (the node binary, shared libraries, ICU data): code, mostly shared;
 * - `mallocMiB`: the main [heap] and anonymous regions that lie in 64 MiB-reserved malloc arenas
 *   (glibc gives each thread that allocates its own arena; freed memory stays resident in them);
 * - `otherAnonMiB`: every other anonymous mapping — V8's heap pages and code space, WebAssembly
 *   memory, thread stacks.
 */
import { readFileSync } from 'node:fs';

export interface MemoryMap {
  rssMiB: number;
  fileBackedMiB: number;
  mallocMiB: number;
  otherAnonMiB: number;
  /** Anonymous mappings of 64 MiB address space (glibc arenas, with their unused reservation). */
  arenas: number;
}

const ARENA_BYTES = 64 * 2 ** 20;
const round1 = (kib: number) => Math.round(kib / 102.4) / 10;

/** Summarizes /proc/PID/smaps; undefined where there is none. */
export function memoryMapOf(pid: number | 'self'): MemoryMap | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    // Not Linux, or the process is gone: the figure is absent rather than wrong.
    return undefined;
  }
  const kib = { file: 0, malloc: 0, other: 0 };
  let arenas = 0;
  // A glibc arena is a 64 MiB-aligned reservation split into a read-write part and a
  // PROT_NONE rest: adjacent mappings in one aligned 64 MiB window are summed together.
  const windows = new Map<number, { rssKib: number; spanBytes: number; mappings: number; aligned: boolean }>();
  let current: { name: string; start: number; end: number } | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current = { start: parseInt(header[1], 16), end: parseInt(header[2], 16), name: header[3] };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || !current) continue;
    const value = Number(rss[1]);
    if (current.name === '[heap]') kib.malloc += value;
    else if (current.name.startsWith('/')) kib.file += value;
    else if (current.name === '') {
      const window = Math.floor(current.start / ARENA_BYTES);
      const entry = windows.get(window) ?? { rssKib: 0, spanBytes: 0, mappings: 0, aligned: current.start % ARENA_BYTES === 0 };
      entry.rssKib += value;
      entry.spanBytes += current.end - current.start;
      entry.mappings += 1;
      windows.set(window, entry);
    } else kib.other += value;
  }
  for (const { rssKib, spanBytes, mappings, aligned } of windows.values()) {
    if (aligned && mappings <= 2 && spanBytes === ARENA_BYTES) {
      arenas += 1;
      kib.malloc += rssKib;
    } else kib.other += rssKib;
  }
  return { rssMiB: round1(kib.file + kib.malloc + kib.other), fileBackedMiB: round1(kib.file), mallocMiB: round1(kib.malloc), otherAnonMiB: round1(kib.other), arenas };
}
