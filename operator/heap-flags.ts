/**
 * V8 settings the operator process gives itself, before it loads anything: the entry
 * (bin/meridian.ts) calls this first, so they hold from the first allocation on.
 *
 * The young generation (two semi-spaces) starts at 2 MiB and V8 grows it, under allocation
 * bursts, to 32–64 MiB, then keeps it committed: for the operator, which allocates in bursts
 * (a region's list, a wave of watch events) but never at a rate a large nursery pays for, that
 * was a third of its V8 heap after GC. `--semi-space-growth-factor=1` keeps it at its initial
 * size. It is a runtime flag: set once the heap has grown, it would hold it at the grown size;
 * hence here, not in operator/main.ts, whose imports (the Kubernetes client) would have grown it
 * already. Measured in docs/benchmarks.md, "Operator"; why, in docs/operator-runtime.md.
 *
 * A command line or NODE_OPTIONS that sets the young generation itself wins.
 */
import { setFlagsFromString } from 'node:v8';

export const OPERATOR_V8_FLAGS: readonly string[] = Object.freeze(['--semi-space-growth-factor=1']);

const YOUNG_GENERATION_FLAGS = ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size'];

/** Applies OPERATOR_V8_FLAGS unless `execArgv` or `nodeOptions` already choose; returns the flags applied. */
export function applyOperatorHeapFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((arg) => arg.replace(/_/g, '-'));
  if (given.some((arg) => YOUNG_GENERATION_FLAGS.some((flag) => arg.startsWith(flag)))) return [];
  for (const flag of OPERATOR_V8_FLAGS) setFlagsFromString(flag);
  return [...OPERATOR_V8_FLAGS];
}

/** The entry's hook (bin/meridian.ts `prepare`): this process's own flags. */
export function prepare(): void {
  applyOperatorHeapFlags(process.execArgv, process.env.NODE_OPTIONS);
}
