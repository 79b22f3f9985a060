/**
 * `kubectl meridian <command>`: kubectl finds `kubectl-meridian` on PATH and runs it with the
 * words after `meridian`. Each command parses its own flags plus kubectl's connection flags
 * (--kubeconfig, --context, -n/--namespace), and fails with a PluginError whose exit status is
 * stable (kubectl/errors.ts).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { GROUP } from '../crds/types.ts';
import { PLUGIN_ERRORS, PluginError } from './errors.ts';
import { GLOBAL_FLAGS, commandHelp, rootHelp, type CommandHelp, type FlagHelp } from './help.ts';
import { connect, type ConnectionFlags, type Hub } from './kube.ts';
import { statusReport } from './status.ts';
import { renderStatus, wantsColour } from './status-text.ts';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, mintToken, parseRooms, parseTtl } from './token.ts';

export interface PluginIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  now(): Date;
}

interface Invocation {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  hub: () => Hub;
  io: PluginIo;
}

interface Command extends CommandHelp {
  /** Exactly these positional arguments (by name, for the usage error). */
  args: string[];
  run(call: Invocation): Promise<void>;
}

const OUTPUT_FLAG: FlagHelp = { long: 'output', short: 'o', value: 'string', help: 'Output format: json or yaml (default: text)' };
const resource = (name: string) => `realtimecluster.${GROUP}/${name}`;

function output(call: Invocation): 'text' | 'json' | 'yaml' {
  const format = (call.values.output as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json' && format !== 'yaml') throw new PluginError('USAGE', `--output must be json or yaml, got '${format}'`);
  return format;
}

function printData(call: Invocation, format: 'json' | 'yaml', data: unknown): void {
  call.io.stdout.write(format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
}

async function setPaused(call: Invocation, paused: boolean): Promise<void> {
  const [name] = call.positionals;
  const hub = call.hub();
  const cluster = await hub.getCluster(name);
  const word = paused ? 'paused' : 'resumed';
  // Reading first keeps a repeated pause from writing anything, as `kubectl patch` says "(no change)".
  if ((cluster.spec.paused === true) === paused) {
    call.io.stdout.write(`${resource(name)} already ${paused ? 'paused' : 'running'} (no change)\n`);
    return;
  }
  await hub.patchSpec(name, { paused });
  call.io.stdout.write(`${resource(name)} ${word}\n`);
}

const COMMANDS: Command[] = [
  {
    name: 'status',
    args: ['NAME'],
    usage: 'status NAME [flags]',
    summary: "Show a RealtimeCluster's regions, pods, connections, relay, AI spend and last decisions",
    description: [
      'Show one screen about a RealtimeCluster: its phase, every region with its phase, pods ready out of',
      'desired, connections, message rate, relay state and lag, AI spend against the daily budget, the',
      'conditions, the last scaling and maintenance decisions with their reasons, and the newest Events.',
      'A figure the operator does not report yet is shown as "—". Colour is used on a terminal only',
      '(never with NO_COLOR set).',
    ].join('\n'),
    examples: [
      ['Status of the cluster classrooms in namespace tenants', 'kubectl meridian status classrooms -n tenants'],
      ['The same as JSON, for scripts', 'kubectl meridian status classrooms -n tenants -o json'],
    ],
    flags: [OUTPUT_FLAG],
    async run(call) {
      const format = output(call);
      const hub = call.hub();
      const cluster = await hub.getCluster(call.positionals[0]);
      const report = statusReport(cluster, await hub.clusterEvents(cluster));
      if (format === 'text') call.io.stdout.write(renderStatus(report, { colour: wantsColour(call.io.stdout.isTTY, call.io.env), now: call.io.now() }));
      else printData(call, format, report);
    },
  },
  {
    name: 'pause',
    args: ['NAME'],
    usage: 'pause NAME [flags]',
    summary: "Stop the operator writing to the cluster's regions (sets spec.paused)",
    description: "Stop the operator writing to a RealtimeCluster's regions: it sets spec.paused to true. The operator\nkeeps reading the regions and reporting status; deletion still cleans up.",
    examples: [['Pause the cluster classrooms', 'kubectl meridian pause classrooms -n tenants']],
    flags: [],
    run: (call) => setPaused(call, true),
  },
  {
    name: 'resume',
    args: ['NAME'],
    usage: 'resume NAME [flags]',
    summary: "Let the operator write to the cluster's regions again (clears spec.paused)",
    description: 'Let the operator write to a paused RealtimeCluster\'s regions again: it sets spec.paused to false.',
    examples: [['Resume the cluster classrooms', 'kubectl meridian resume classrooms -n tenants']],
    flags: [],
    run: (call) => setPaused(call, false),
  },
  {
    name: 'token',
    args: ['NAME'],
    usage: "token NAME --sub USER --rooms PATTERNS [--ttl DURATION] [flags]",
    summary: "Mint a client token from the cluster's own signing secret, for testing",
    description: [
      "Mint a client token (HS256 JWT) signed with the RealtimeCluster's own secret, the Secret key",
      'spec.gateway.auth.jwtSecretRef names, for testing a deployment. Reading that Secret needs get on',
      'it in the cluster\'s namespace; without that permission the command refuses and says so. The',
      'token alone is printed, so that TOKEN=$(kubectl meridian token …) works.',
    ].join('\n'),
    examples: [
      ['A token for alice in every math room, valid for one hour', "kubectl meridian token classrooms -n tenants --sub alice --rooms 'math-*'"],
      ['Two room patterns, 15 minutes, with the expiry as JSON', "kubectl meridian token classrooms -n tenants --sub bob --rooms 'math-101,physics-*' --ttl 15m -o json"],
    ],
    flags: [
      { long: 'sub', value: 'string', help: 'The user the token is for (its sub claim); required' },
      { long: 'rooms', value: 'string', help: "Comma-separated room patterns the user may use, such as 'math-*'; required" },
      { long: 'ttl', value: 'duration', help: `How long the token is valid, such as 15m or 2h (default 1h, at most ${MAX_TTL_SECONDS / 3600}h)` },
      { long: 'name', value: 'string', help: 'Display name (the name claim)' },
      OUTPUT_FLAG,
    ],
    async run(call) {
      const format = output(call);
      const sub = call.values.sub as string | undefined;
      const rooms = call.values.rooms as string | undefined;
      if (sub === undefined || rooms === undefined) throw new PluginError('USAGE', `token needs --sub and --rooms (missing: ${[sub === undefined && '--sub', rooms === undefined && '--rooms'].filter(Boolean).join(', ')})`);
      const request = {
        cluster: call.positionals[0],
        sub,
        rooms: parseRooms(rooms),
        ttlSeconds: call.values.ttl === undefined ? DEFAULT_TTL_SECONDS : parseTtl(call.values.ttl as string),
        name: call.values.name as string | undefined,
      };
      const minted = await mintToken(call.hub(), request);
      if (format === 'text') call.io.stdout.write(`${minted.token}\n`);
      else printData(call, format, minted);
    },
  },
  {
    name: 'maintenance',
    args: ['NAME', 'REGION', 'on|off'],
    usage: 'maintenance NAME REGION on|off [flags]',
    summary: 'Take a region out of service gently, or bring it back (sets spec.regions[].maintenance)',
    description: [
      "Take a region out of service gently: the operator raises the other regions' capacity, drains the region's",
      'clients to the healthy regions (a reconnect push, then close 1012) and holds it at zero pods without',
      'deleting its objects; "off" brings it back. Progress is the Maintenance condition (kubectl meridian status).',
      'See docs/maintenance.md.',
    ].join('\n'),
    examples: [['Put region europe-west1 of classrooms into maintenance', 'kubectl meridian maintenance classrooms europe-west1 on -n tenants']],
    flags: [],
    async run(call) {
      const [name, regionName, mode] = call.positionals;
      if (!['on', 'off'].includes(mode)) throw new PluginError('USAGE', `maintenance takes on or off, got '${mode}'`);
      const on = mode === 'on';
      const hub = call.hub();
      const cluster = await hub.getCluster(name);
      const regions = cluster.spec.regions ?? [];
      if (!regions.some((r) => r.name === regionName)) {
        throw new PluginError('NOT_FOUND', `${resource(name)} has no region ${regionName} (regions: ${regions.map((r) => r.name).join(', ') || 'none'})`);
      }
      if (regions.some((r) => r.name === regionName && (r.maintenance === true) === on)) {
        call.io.stdout.write(`${resource(name)} region ${regionName} maintenance already ${mode} (no change)\n`);
        return;
      }
      // A merge patch replaces the list whole: the regions as read, with this one's switch changed.
      await hub.patchSpec(name, { regions: regions.map((r) => (r.name === regionName ? { ...r, maintenance: on } : r)) });
      call.io.stdout.write(`${resource(name)} region ${regionName} maintenance ${mode}\n`);
    },
  },
];

/** parseArgs options for a command: its own flags plus the connection flags and --help. */
function parseOptions(flags: readonly FlagHelp[]) {
  const all = [...GLOBAL_FLAGS, ...flags, { long: 'help', short: 'h' } as FlagHelp];
  return Object.fromEntries(all.map((f) => [f.long, { type: f.value ? ('string' as const) : ('boolean' as const), ...(f.short ? { short: f.short } : {}) }]));
}

function usageError(message: string, helpCommand: string): PluginError {
  return new PluginError('USAGE', `${message}\nSee '${helpCommand} --help' for usage.`);
}

/** Where the command word is: the first argument that is neither a flag nor a global flag's value. */
function commandIndex(argv: readonly string[]): number {
  const takesValue = new Set(GLOBAL_FLAGS.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]));
  for (let i = 0; i < argv.length; i++) {
    if (takesValue.has(argv[i])) i += 1;
    else if (!argv[i].startsWith('-')) return i;
  }
  return -1;
}

async function dispatch(argv: string[], io: PluginIo): Promise<void> {
  const at = commandIndex(argv);
  const name = at === -1 ? undefined : argv[at];
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    if (name === undefined || name === 'help') {
      // Flags alone (`kubectl meridian -n x`) or nothing: the root help, as cobra prints it.
      const unknown = argv.filter((arg) => arg.startsWith('-') && !['-h', '--help'].includes(arg));
      if (name === undefined && unknown.length > 0 && !argv.includes('--help') && !argv.includes('-h')) throw usageError(`a command is required (got only flags: ${unknown.join(' ')})`, 'kubectl meridian');
      io.stdout.write(rootHelp(COMMANDS));
      return;
    }
    throw usageError(`unknown command "${name}" for "kubectl meridian"`, 'kubectl meridian');
  }
  const rest = argv.filter((_, i) => i !== at);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: parseOptions(command.flags), allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError((error as Error).message, `kubectl meridian ${command.name}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    io.stdout.write(commandHelp(command));
    return;
  }
  if (parsed.positionals.length !== command.args.length) {
    throw usageError(`${command.name} takes ${command.args.join(' ')}; got ${parsed.positionals.length === 0 ? 'no arguments' : parsed.positionals.map((p) => `'${p}'`).join(' ')}`, `kubectl meridian ${command.name}`);
  }
  const connection: ConnectionFlags = { kubeconfig: values.kubeconfig as string | undefined, context: values.context as string | undefined, namespace: values.namespace as string | undefined };
  await command.run({ positionals: parsed.positionals, values, io, hub: () => connect(connection) });
}

/** Runs the plugin; resolves with the exit status (0, or the PluginError's). */
export async function main(argv: string[], io: PluginIo): Promise<number> {
  try {
    await dispatch(argv, io);
    return 0;
  } catch (error) {
    const failure = error instanceof PluginError ? error : new PluginError('API_ERROR', error instanceof Error ? error.message : String(error), { cause: error });
    // The code goes on the first line, where a script or a person looks; hints follow below it.
    const [first, ...more] = failure.message.split('\n');
    io.stderr.write(`error: ${first} [${failure.code}]\n${more.map((line) => `${line}\n`).join('')}`);
    return PLUGIN_ERRORS[failure.code].exit;
  }
}
