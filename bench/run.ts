/**
 * `npm run bench -- <name> [options]`: runs one benchmark (or `all`), each a module exporting
 * `run(args)`, loaded only when asked for. `npm run bench -- <name> --help` lists its options.
 */
import { describeOptions, type OptionSpec } from './lib/args.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';

interface BenchmarkModule {
  run(args: readonly string[]): Promise<unknown>;
}

const benchmarks: Record<string, { module: string; options?: string; summary: string }> = {
  fanout: { module: './fanout.ts', options: 'fanoutOptions', summary: 'one room, N subscribers: Meridian vs Socket.IO vs raw ws' },
  redis: { module: './redis.ts', options: 'redisOptions', summary: 'two gateways through one Redis vs Socket.IO + redis-adapter' },
  relay: { module: './relay.ts', options: 'relayOptions', summary: 'two regions through the Pub/Sub emulator vs the raw Pub/Sub client' },
  operator: { module: './operator.ts', options: 'operatorOptions', summary: 'the RealtimeCluster operator' },
  autoscale: { module: './autoscale.ts', options: 'autoscaleOptions', summary: 'a load step on real gateways (pods Ready, peak per pod, closes without 1012) and the /loadz read cost at 15 regions × 50 pods' },
  ai: { module: './ai.ts', options: 'aiOptions', summary: 'AI routing: router decision time, gateway overhead vs the SDK direct, local provider per call' },
  sandbox: { module: './sandbox.ts', options: 'sandboxOptions', summary: "the API emulator's injected latency as a client sees it" },
  notify: { module: './notify.ts', options: 'notifyOptions', summary: 'notifications per channel (webhook, email, Web Push) through two pods and one Redis' },
  connections: { module: './connections.ts', options: 'connectionsOptions', summary: 'up to 19k connections per process, 3 pods × 17k held, reconnect storm: memory, lag, delivery' },
  'http-flood': { module: './http-flood.ts', options: 'httpFloodOptions', summary: 'pipelined HTTP flood on the public port: gateway RSS and a bystander\'s /healthz' },
};

function usage(): string {
  const lines = Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(10)} ${b.summary}`);
  return `usage: npm run bench -- <name|all> [options]\n\nbenchmarks:\n${lines.join('\n')}\n  all        each of the above in turn\n`;
}

async function load(name: string): Promise<BenchmarkModule & Record<string, unknown>> {
  const entry = benchmarks[name];
  if (!entry) throw new BenchError(BenchErrorCode.UNKNOWN_BENCHMARK, `unknown benchmark '${name}'\n\n${usage()}`);
  return (await import(new URL(entry.module, import.meta.url).href)) as BenchmarkModule & Record<string, unknown>;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    process.exitCode = name ? 0 : 2;
    return;
  }
  const names = name === 'all' ? Object.keys(benchmarks) : [name];
  // Options differ per benchmark; `all` takes only the ones they share.
  const shared = new Set(['--quick']);
  const unshared = args.filter((arg) => arg.startsWith('--') && !shared.has(arg));
  if (name === 'all' && unshared.length > 0) {
    throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `'all' accepts only ${[...shared].join(', ')}; run a benchmark by name for ${unshared.join(', ')}`);
  }
  for (const benchmark of names) {
    const mod = await load(benchmark);
    const optionsName = benchmarks[benchmark].options;
    if (args.includes('--help')) {
      const specs = optionsName ? (mod[optionsName] as Record<string, OptionSpec> | undefined) : undefined;
      process.stdout.write(`npm run bench -- ${benchmark} [options]\n${specs ? describeOptions(specs) : '  (options not listed by this benchmark)'}\n`);
      continue;
    }
    await mod.run(args);
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  const err = error as Error & { code?: string };
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exitCode = err.code === BenchErrorCode.BAD_ARGUMENT || err.code === BenchErrorCode.UNKNOWN_BENCHMARK ? 2 : 1;
}
