/**
 * V8 settings the operator process gives itself, before it loads anything: the entry
 * (bin/meridian.ts) calls this first, so they hold from the first allocation on.
 *
 * - `--semi-space-growth-factor=1`: the young generation (two semi-spaces) starts at 2 MiB and
 *   V8 grows it, under allocation bursts, to 32–64 MiB, then keeps it committed: for the
 *   operator, which allocates in bursts (a region's list, a wave of watch events) but never at a
 *   rate a large nursery pays for, that was a third of its V8 heap after GC. This keeps it at its
 *   initial size. It is a runtime flag: set once the heap has grown, it would hold it at the grown
 *   size; hence here, not in operator/main.ts.
 * - `--optimize-for-size`: every full collection also reduces memory, which returns the heap
 *   pages V8 otherwise pools after a burst (convergence at 100 clusters × 3 regions left 30–43
 *   MiB of them resident for good: the memory reducer that would release them never ran, since
 *   load rounds and resyncs keep the allocation rate above its threshold). RSS after GC at
 *   100 × 3: 156–182 → 114 MiB, with no measurable cost in time to Ready or CPU.
 * Measured in docs/benchmarks.md, "Operator"; why, in docs/operator-runtime.md, "Memory".
 *
 * A command line or NODE_OPTIONS that chooses a setting itself wins for that setting.
 */
import { setFlagsFromString } from 'node:v8';

/** Each flag, and the flags by which a command line or NODE_OPTIONS chooses that setting itself. */
const OPERATOR_FLAGS: readonly { flag: string; chosenBy: readonly string[] }[] = [
  { flag: '--semi-space-growth-factor=1', chosenBy: ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size'] },
  { flag: '--optimize-for-size', chosenBy: ['--optimize-for-size', '--no-optimize-for-size'] },
];

export const OPERATOR_V8_FLAGS: readonly string[] = Object.freeze(OPERATOR_FLAGS.map(({ flag }) => flag));

/** Applies each of OPERATOR_V8_FLAGS that `execArgv` and `nodeOptions` leave unchosen; returns the flags applied. */
export function applyOperatorHeapFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((arg) => arg.replace(/_/g, '-'));
  const applied: string[] = [];
  for (const { flag, chosenBy } of OPERATOR_FLAGS) {
    if (given.some((arg) => chosenBy.some((choice) => arg === choice || arg.startsWith(`${choice}=`)))) continue;
    setFlagsFromString(flag);
    applied.push(flag);
  }
  return applied;
}

/** The entry's hook (bin/meridian.ts `prepare`): this process's own flags. */
export function prepare(): void {
  applyOperatorHeapFlags(process.execArgv, process.env.NODE_OPTIONS);
}
