/**
 * Options every client-driven benchmark (fanout, redis) takes with the same meaning and default;
 * each benchmark adds its own.
 */
import type { OptionSpec } from './args.ts';

export const deliveryRunOptions: Record<string, OptionSpec> = {
  quick: { kind: 'bool', default: false, doc: 'one round and shorter runs' },
  'payload-bytes': { kind: 'int', default: 1024, doc: 'size of the published data' },
  'connect-concurrency': { kind: 'int', default: 100, doc: 'connections opened at once' },
  'reply-timeout-ms': { kind: 'int', default: 30_000, doc: 'longest wait for a connect or subscribe reply' },
  'drain-timeout-ms': { kind: 'int', default: 5_000, doc: 'after publishing stops, time without any delivery before the rest counts as lost' },
  'ready-timeout-ms': { kind: 'int', default: 30_000, doc: 'longest wait for a server to accept connections' },
  quiet: { kind: 'bool', default: false, doc: 'no progress lines and no table (the result file is still written)' },
};
