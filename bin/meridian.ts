#!/usr/bin/env node
/**
 * The `meridian` command: one entry point, one subcommand per process kind.
 * Each subcommand lives in its own module and is loaded only when asked for.
 */
// First, so that a Node.js older than package.json's engines.node stops here with one clear line
// (a Node that cannot run .ts files at all fails before this; npm start and npm test check first).
import '../scripts/check-node.cjs';
import { enableCompileCache } from 'node:module';

/** `prepare`: a module whose `prepare()` runs before the subcommand's module is loaded (process-wide settings). */
const subcommands: Record<string, { module: string; summary: string; prepare?: string }> = {
  gateway: { module: '../gateway/main.ts', summary: 'run a WebSocket gateway [--config FILE]' },
  apiserver: { module: '../sandbox/apiserver/main.ts', summary: 'run a local Kubernetes API emulator [--port P] [--kubeconfig-out FILE]' },
  operator: { module: '../operator/main.ts', summary: 'run the RealtimeCluster operator [--kubeconfig FILE]', prepare: '../operator/heap-flags.ts' },
  start: { module: '../sandbox/platform/start.ts', summary: 'run the whole platform on this machine: hub, two regions, operator, dashboard [--dir DIR]' },
};

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, s]) => `  ${name.padEnd(10)} ${s.summary}`);
  return `usage: meridian <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(usage());
  process.exit(name ? 0 : 2);
}
const entry = subcommands[name];
if (!entry) {
  process.stderr.write(`meridian: unknown command '${name}'\n\n${usage()}`);
  process.exit(2);
}
// V8's code cache on disk (os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it
// off): a gateway, operator or launcher that started before starts in about half the CPU time,
// which is what `meridian start` spends most of its start-up on (several gateways at once).
enableCompileCache();
if (entry.prepare) ((await import(entry.prepare)) as { prepare(): void }).prepare();
const mod = (await import(entry.module)) as { main(argv: string[]): Promise<void> };
await mod.main(rest);
