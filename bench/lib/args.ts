/**
 * Benchmark options: `--name value` or `--flag`, checked against each benchmark's table of
 * named options with defaults. An unknown option or a bad value fails with BENCH_BAD_ARGUMENT
 * and names the option, rather than running a benchmark nobody asked for.
 */
import { BenchError, BenchErrorCode } from './errors.ts';

export type OptionKind = 'int' | 'bool' | 'string' | 'list' | 'intList';

export interface OptionSpec {
  kind: OptionKind;
  default: number | boolean | string | string[] | number[];
  /** Used instead of `default` when --quick is given. */
  quick?: number | boolean | string | string[] | number[];
  doc: string;
}

export type OptionValues = Record<string, number | boolean | string | string[] | number[]>;

function toInt(name: string, raw: string): number {
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < 0) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--${name} needs a non-negative integer, got '${raw}'`);
  return value;
}

export function parseOptions(argv: readonly string[], specs: Record<string, OptionSpec>): OptionValues {
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unexpected argument '${arg}' (options look like --name value)`);
    // Split at the first '=' only: a value may hold '=' itself (--gateway-env=MERIDIAN_X=1).
    const at = arg.indexOf('=');
    const name = at < 0 ? arg.slice(2) : arg.slice(2, at);
    const inline = at < 0 ? undefined : arg.slice(at + 1);
    const spec = specs[name];
    if (!spec) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown option --${name}; known: ${Object.keys(specs).map((k) => `--${k}`).join(', ')}`);
    if (spec.kind === 'bool') given.set(name, inline ?? true);
    else if (inline !== undefined) given.set(name, inline);
    else if (i + 1 < argv.length) given.set(name, argv[++i]);
    else throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--${name} needs a value`);
  }
  const quick = given.get('quick') === true || given.get('quick') === 'true';
  const values: OptionValues = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = given.get(name);
    if (raw === undefined) {
      values[name] = quick && spec.quick !== undefined ? spec.quick : spec.default;
      continue;
    }
    switch (spec.kind) {
      case 'bool':
        values[name] = raw === true || raw === 'true';
        break;
      case 'int':
        values[name] = toInt(name, String(raw));
        break;
      case 'string':
        values[name] = String(raw);
        break;
      case 'list':
        values[name] = String(raw).split(',').filter(Boolean);
        break;
      case 'intList':
        values[name] = String(raw).split(',').filter(Boolean).map((v) => toInt(name, v));
        break;
    }
  }
  return values;
}

export function describeOptions(specs: Record<string, OptionSpec>): string {
  return Object.entries(specs)
    .map(([name, spec]) => `  --${name.padEnd(22)} ${spec.doc} (default ${JSON.stringify(spec.default)}${spec.quick !== undefined ? `, --quick ${JSON.stringify(spec.quick)}` : ''})`)
    .join('\n');
}
