/**
 * The Meridian gateway exactly as `meridian gateway` runs it (gateway/main.ts, configured by
 * MERIDIAN_* variables), plus the benchmark's memory hook in the same process so the runner can
 * force a GC and read the gateway's own heap.
 * Usage: node --expose-gc bench/servers/meridian.ts [gateway options]
 */
import { installMemoryHook } from '../lib/memory-hook.ts';

installMemoryHook();
// Resolved at run time, as bin/meridian.ts loads its subcommands.
const entry = new URL('../../gateway/main.ts', import.meta.url).href;
const gateway = (await import(entry)) as { main(argv: string[]): Promise<void> };
await gateway.main(process.argv.slice(2));
