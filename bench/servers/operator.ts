/**
 * The operator exactly as `meridian operator` runs it (bin/meridian.ts: operator/heap-flags.ts's
 * prepare, then operator/main.ts), plus the benchmark's memory hook in the same process so the
 * runner can force a GC and read the retained heap.
 * Usage: node --expose-gc bench/servers/operator.ts [operator options]
 */
import { installMemoryHook } from '../lib/memory-hook.ts';

// Resolved at run time, as bin/meridian.ts loads its subcommands; the flags first, as it does.
const flags = (await import(new URL('../../operator/heap-flags.ts', import.meta.url).href)) as { prepare(): void };
flags.prepare();
installMemoryHook();
const entry = new URL('../../operator/main.ts', import.meta.url).href;
const operator = (await import(entry)) as { main(argv: string[]): Promise<void> };
await operator.main(process.argv.slice(2));
