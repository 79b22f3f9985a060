/**
 * Help texts in kubectl's (cobra's) layout: a description, then Usage:, Examples:, Available
 * Commands: or Flags:, Global Flags:, and the closing "Use … --help" line.
 */

export interface FlagHelp {
  long: string;
  short?: string;
  /** Value placeholder shown after the flag (`string`, `duration`); absent for booleans. */
  value?: string;
  help: string;
}

export interface CommandHelp {
  name: string;
  usage: string;
  summary: string;
  description: string;
  examples: Array<[comment: string, command: string]>;
  flags: FlagHelp[];
}

export const GLOBAL_FLAGS: readonly FlagHelp[] = [
  { long: 'context', value: 'string', help: 'The name of the kubeconfig context to use' },
  { long: 'kubeconfig', value: 'string', help: 'Path to the kubeconfig file to use for CLI requests (default: $KUBECONFIG, else ~/.kube/config)' },
  { long: 'namespace', short: 'n', value: 'string', help: "If present, the namespace scope for this CLI request (default: the context's namespace, else default)" },
];

function flagLines(flags: readonly FlagHelp[]): string[] {
  const left = flags.map((f) => `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.value ? ` ${f.value}` : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  return flags.map((f, i) => `  ${left[i].padEnd(width)}   ${f.help}`);
}

function examples(list: CommandHelp['examples']): string[] {
  return list.flatMap(([comment, command], i) => [...(i > 0 ? [''] : []), `  # ${comment}`, `  ${command}`]);
}

export function rootHelp(commands: readonly CommandHelp[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "Operate Meridian RealtimeClusters from kubectl: one screen of status per cluster, pause and resume,",
    "and client tokens for testing a deployment. Talks to the hub cluster's API only.",
    '',
    'Usage:',
    '  kubectl meridian [command] [flags]',
    '',
    'Examples:',
    ...examples([
      ['One screen about a cluster: regions, pods, connections, relay, AI spend, recent decisions', 'kubectl meridian status classrooms -n tenants'],
      ['Stop the operator writing to the regions', 'kubectl meridian pause classrooms -n tenants'],
      ['Let it write again', 'kubectl meridian resume classrooms -n tenants'],
      ['A token for user alice in the math rooms, valid for one hour', "kubectl meridian token classrooms -n tenants --sub alice --rooms 'math-*' --ttl 1h"],
    ]),
    '',
    'Available Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'Flags:',
    ...flagLines([...GLOBAL_FLAGS, { long: 'help', short: 'h', help: 'help for kubectl meridian' }].sort((a, b) => a.long.localeCompare(b.long))),
    '',
    'Use "kubectl meridian [command] --help" for more information about a command.',
    '',
  ].join('\n');
}

export function commandHelp(command: CommandHelp): string {
  return [
    command.description,
    '',
    'Usage:',
    `  kubectl meridian ${command.usage}`,
    '',
    'Examples:',
    ...examples(command.examples),
    '',
    'Flags:',
    ...flagLines([...command.flags, { long: 'help', short: 'h', help: `help for ${command.name}` }].sort((a, b) => a.long.localeCompare(b.long))),
    '',
    'Global Flags:',
    ...flagLines(GLOBAL_FLAGS),
    '',
  ].join('\n');
}
