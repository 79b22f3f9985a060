/**
 * The status report as one screen of text, laid out as kubectl's describe and get are (labels,
 * then tables with upper-case headers, ages such as 12s, 5m, 3h). Colour marks phases and
 * warnings only when asked for (a terminal without NO_COLOR; see `wantsColour`).
 */
import type { DecisionReport, StatusReport } from './status.ts';

const NONE = '—';

/** Colour on a terminal unless NO_COLOR is set (no-color.org) or TERM is dumb. */
export function wantsColour(isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  return isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

type Paint = (text: string, tone: 'good' | 'busy' | 'bad' | 'bold') => string;
const CODES = { good: 32, busy: 33, bad: 31, bold: 1 } as const;
const paintWith = (colour: boolean): Paint => (text, tone) => (colour && text !== '' ? `\u001b[${CODES[tone]}m${text}\u001b[0m` : text);

function toneOf(word: string | undefined): 'good' | 'busy' | 'bad' | undefined {
  switch (word) {
    case 'Ready':
    case 'True':
    case 'ready':
    case 'ok':
    case 'Normal':
      return 'good';
    case 'Pending':
    case 'Progressing':
      return 'busy';
    case 'Degraded':
    case 'Unknown':
    case 'False':
    case 'not ready':
    case 'degraded':
    case 'Warning':
      return 'bad';
    default:
      return undefined;
  }
}

/** kubectl's short age: 45s, 12m, 3h, 5d. */
export function age(iso: string | undefined, now: Date): string {
  if (!iso) return NONE;
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return NONE;
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

const shown = (value: number | string | undefined, unit = ''): string => (value === undefined ? NONE : `${value}${unit}`);

/** Dollars: cents, or up to micro-dollars below a cent (a few cheap requests are not $0.00). */
export function money(usd: number | undefined): string {
  if (usd === undefined) return NONE;
  if (usd === 0 || usd >= 0.01) return `$${usd.toFixed(2)}`;
  return `$${usd.toFixed(6).replace(/0+$/, '')}`;
}

function aiLine(ai: StatusReport['ai']): string {
  if (!ai.configured) return 'not configured';
  const perRegion = `${money(ai.regionDailyBudgetUsd)} per region × ${ai.regionsBudgeted}`;
  if (ai.spentTodayUsd === undefined) return `${NONE} of ${money(ai.dailyBudgetUsd)} daily budget (${perRegion})`;
  return `${money(ai.spentTodayUsd)} of ${money(ai.dailyBudgetUsd)} daily budget (${ai.day}; ${perRegion}, ${ai.regionsReporting} reporting)`;
}

/** Today's provider mix: each provider's share of the requests, with its requests and spend. */
export function providerMix(providers: StatusReport['ai']['providers']): string {
  if (providers === undefined) return NONE;
  const requests = providers.reduce((total, p) => total + p.requests, 0);
  if (requests === 0) return 'no requests yet today';
  return providers.map((p) => `${p.name} ${Math.round((p.requests / requests) * 100)}% (${p.requests} req, ${money(p.spentUsd)})`).join(', ');
}

function lag(region: StatusReport['regions'][number]): string {
  if (region.relayLagMs === undefined) return region.relayGaps ? `${NONE}, ${region.relayGaps} gaps` : NONE;
  return `${region.relayLagMs}ms${region.relayGaps ? `, ${region.relayGaps} gaps` : ''}`;
}

/**
 * Columns padded to the widest cell; colour is applied after padding so escape codes do not
 * count as width. `tones` says which columns are coloured by their word.
 */
function table(header: string[], rows: string[][], paint: Paint, toned: ReadonlySet<number>, indent = ''): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[], head: boolean) =>
    indent +
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]);
        if (head) return paint(padded, 'bold');
        const tone = toned.has(i) ? toneOf(cell) : undefined;
        return tone ? paint(cell, tone) + padded.slice(cell.length) : padded;
      })
      .join('   ')
      .trimEnd();
  return [line(header, true), ...rows.map((r) => line(r, false))];
}

function decision(made: DecisionReport | undefined, now: Date): string {
  return made ? `${made.region ? `region ${made.region}: ` : ''}${made.reason} ${age(made.lastSeen, now)} ago: ${made.message}` : NONE;
}

export function renderStatus(report: StatusReport, options: { colour: boolean; now: Date }): string {
  const paint = paintWith(options.colour);
  const { now } = options;
  const phase = report.phase ? paint(report.phase, toneOf(report.phase) ?? 'bold') : NONE;
  const generation = report.generation !== undefined ? `generation ${report.generation}, observed ${shown(report.observedGeneration)}` : '';
  const relay = !report.relay.configured ? 'not configured' : report.relay.ready ? `RelayReady ${paint(report.relay.ready, toneOf(report.relay.ready) ?? 'bold')} (${report.relay.reason})` : `${NONE} (not reported yet)`;
  const ai = aiLine(report.ai);
  const lines = [
    `Name:         ${report.name}`,
    `Namespace:    ${report.namespace}`,
    `Phase:        ${phase}${report.regionsReady ? `   regions ready ${report.regionsReady}` : ''}${generation ? `   (${generation})` : ''}`,
    `Paused:       ${report.paused ? paint('yes', 'busy') + ' (nothing is written to regions)' : 'no'}`,
    `Connections:  ${shown(report.connections)}`,
    `Relay:        ${relay}`,
    `AI spend:     ${ai}`,
    ...(report.ai.configured ? [`AI mix today: ${providerMix(report.ai.providers)}`] : []),
    '',
    ...table(
      ['REGION', 'PHASE', 'PODS', 'SCALING', 'CONNECTIONS', 'MSG/S IN/OUT', 'RELAY', 'LAG', 'AI TODAY', 'SYNCED', 'MESSAGE'],
      report.regions.map((r) => [
        r.name,
        shown(r.phase),
        r.desiredReplicas === undefined ? NONE : `${shown(r.readyReplicas)}/${r.desiredReplicas}`,
        shown(r.scaling),
        shown(r.connections),
        r.messagesPerSecond ? `${r.messagesPerSecond.in}/${r.messagesPerSecond.out}` : NONE,
        shown(r.relay),
        lag(r),
        money(r.aiSpentTodayUsd),
        age(r.lastSyncTime, now),
        r.message ?? '',
      ]),
      paint,
      new Set([1, 6]),
    ),
  ];
  if (report.pendingCleanup.length > 0) {
    lines.push('', 'Pending cleanup:', ...table(['REGION', 'NAMESPACE', 'MESSAGE'], report.pendingCleanup.map((p) => [p.region, p.namespace, p.message]), paint, new Set(), '  '));
  }
  lines.push('', 'Conditions:');
  if (report.conditions.length === 0) lines.push(`  ${NONE} (not reported yet)`);
  else lines.push(...table(['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'], report.conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message]), paint, new Set([1]), '  '));
  lines.push('', 'Last decisions:', `  Scaling:      ${decision(report.decisions.scaling, now)}`, `  Maintenance:  ${decision(report.decisions.maintenance, now)}`);
  lines.push('', `Events (newest ${report.events.length}):`);
  if (report.events.length === 0) lines.push(`  ${NONE}`);
  else lines.push(...table(['LAST SEEN', 'TYPE', 'REASON', 'COUNT', 'MESSAGE'], report.events.map((e) => [age(e.lastSeen, now), e.type, e.reason, String(e.count), e.message.split('\n')[0]]), paint, new Set([1]), '  '));
  return `${lines.join('\n')}\n`;
}
