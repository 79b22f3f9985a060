// The dashboard page: one EventSource on /dashboard/events ('history' on connect, then 'sample'
// every interval), small uPlot charts per region, and text for everything else. A value the
// server could not measure arrives as null with a reason and is shown as such, never as 0.
const CHARTS = [
  ['connections', 'connections'],
  ['msgsInPerSec', 'messages in / s'],
  ['msgsOutPerSec', 'messages out / s'],
  ['p99Ms', 'publish→deliver p99 (ms)'],
  ['relayLagP99Ms', 'relay lag p99 (ms)'],
  ['aiPerSec', 'AI requests / s'],
];
const WINDOW_MS = 15 * 60_000;
const series = new Map(); // region key -> {name: [[t, v]]}
const charts = new Map(); // region key + name -> uPlot
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k.startsWith('data-')) node.setAttribute(k, v); else node[k] = v;
  }
  for (const child of children.flat()) if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  return node;
}
const na = (why) => el('span', { class: 'na' }, why);
const num = (v, unit = '', why = 'no data') => (v === null || v === undefined ? na(why) : `${v}${unit}`);

function badge(phase) {
  return el('span', { class: `badge ${phase}`, 'data-field': 'phase' }, phase);
}

function values(pairs) {
  const dl = el('dl', { class: 'values' });
  for (const [label, value, field] of pairs) dl.append(el('dt', {}, label), el('dd', field ? { 'data-field': field } : {}, value));
  return dl;
}

function podsTable(region) {
  if (region.error) return el('p', { class: 'error', 'data-field': 'pods-error' }, region.error);
  if (region.pods.length === 0) return na('no gateway pods yet');
  const table = el('table', {}, el('caption', {}, 'Pods'), el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'pod'), el('th', { scope: 'col' }, 'ready'), el('th', { scope: 'col' }, 'restarts'), el('th', { scope: 'col' }, 'connections'))));
  const body = el('tbody');
  for (const pod of region.pods) {
    body.append(el('tr', { 'data-pod': pod.name }, el('td', {}, pod.name), el('td', {}, pod.deleting ? 'terminating' : pod.ready ? 'yes' : 'no'), el('td', {}, pod.restarts), el('td', {}, pod.error ? el('span', { class: 'error' }, pod.error) : num(pod.connections))));
  }
  table.append(body);
  return table;
}

const usd = (v) => (v === 0 || v >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(6).replace(/0+$/, '')}`);

/** Spend against a budget, as text and a meter (a screen reader hears the text). */
function spend(spent, budget, field) {
  const percent = budget > 0 ? Math.round((spent / budget) * 100) : 0;
  return el('span', { 'data-field': field }, `${usd(spent)} of ${usd(budget)} (${percent} %) `, el('meter', { min: 0, max: budget, value: spent, low: budget * 0.8, high: budget * 0.95, optimum: 0, ariaHidden: 'true' }));
}

function aiValues(region, cluster) {
  if (!region.ai) return [['AI', na(region.error ? 'region unreachable' : cluster.aiBudgetUsd === null ? 'AI not configured' : 'no pod answered')]];
  const providers = Object.entries(region.ai.providers).sort((a, b) => b[1].requests - a[1].requests);
  const mix = providers.map(([p, s]) => `${p} ${Math.round(s.share * 100)} % (${s.requests} req, ${usd(s.costUsd)})`).join('; ');
  const sentiment = region.ai.sentiment.length === 0 ? na('no scored rooms yet') : region.ai.sentiment.map((s) => `${s.room} ${s.score.toFixed(2)}`).join(', ');
  const today = region.ai.spentTodayUsd === null ? na('not reported yet (the operator reads it each load period)') : spend(region.ai.spentTodayUsd, region.ai.budgetUsd, 'aiSpentToday');
  return [
    ['AI requests', `${region.ai.requests} total, ${region.ai.perSec ?? '–'} / s`, 'aiRequests'],
    ['AI spend today vs region budget', today],
    ['provider mix (since pods started)', mix ? el('span', { 'data-field': 'aiProviderMix' }, mix) : na('no requests yet')],
    ['room sentiment', sentiment],
  ];
}

function clusterAi(cluster) {
  if (cluster.aiBudgetUsd === null) return na('AI not configured');
  const today = cluster.aiToday;
  if (!today) return na(`not reported yet; ${usd(cluster.aiBudgetUsd)} a day per region`);
  const budgeted = today.regionDailyBudgetUsd > 0 ? Math.round(today.dailyBudgetUsd / today.regionDailyBudgetUsd) : cluster.regions.length;
  return el('div', {},
    el('p', {}, `${today.day}: `, spend(today.spentTodayUsd, today.dailyBudgetUsd, 'aiToday'), ` — ${usd(today.regionDailyBudgetUsd)} a day per region × ${budgeted} (each region enforces its own; one held at zero pods in maintenance is not counted), ${today.regionsReporting} reporting`),
    el('p', {}, 'provider mix today: ', todayMix(cluster.aiMixToday)));
}

/** Today's mix from the regions' per-provider tallies (status.ai.providers): share of requests, then requests and spend. */
function todayMix(mix) {
  if (!mix) return na('not reported by these gateways');
  if (mix.every((p) => p.requests === 0)) return na('no requests yet today');
  const text = mix.map((p) => `${p.name} ${Math.round(p.share * 100)} % (${p.requests} req, ${usd(p.spentUsd)})`).join('; ');
  return el('span', { 'data-field': 'aiProviderMixToday' }, text);
}

function notificationValues(region, unreachable) {
  if (!region.notifications) return [['notifications', na(region.error || region.connections === null ? unreachable : 'notifications off')]];
  const channels = Object.entries(region.notifications.deliveries);
  const text = channels.length === 0 ? 'none delivered yet' : channels.map(([channel, outcomes]) => `${channel}: ${Object.entries(outcomes).map(([o, n]) => `${n} ${o}`).join(', ')}`).join('; ');
  return [['notifications (since pods started)', text, 'notifications'], ['notification backlog', num(region.notifications.backlog, '', 'not reported')]];
}

function regionCard(cluster, region) {
  const key = `${cluster.key}/${region.name}`;
  const unreachable = region.error ? 'region unreachable' : 'no pod answered';
  const relay = cluster.relayConfigured
    ? region.relay
      ? [['relay lag p99', num(region.relay.lagP99Ms, ' ms', 'nothing relayed in the window'), 'relayLag'], ['relay gaps', region.relay.gaps, 'relayGaps'], ['relay outbox', `${region.relay.outbox}${region.relay.degraded ? ' (degraded)' : ''}`]]
      : [['relay', na(unreachable)]]
    : [['relay', na('no cross-region relay configured')]];
  const card = el('article', { class: 'region', 'data-region': region.name, 'aria-labelledby': `r-${key}` },
    el('h3', { id: `r-${key}` }, `${region.name} `, badge(region.phase)),
    region.message ? el('p', {}, region.message) : null,
    values([
      ['replicas', `${region.readyReplicas ?? '–'} ready of ${region.desiredReplicas ?? '–'}`],
      ['connections', num(region.connections, '', unreachable), 'connections'],
      ['messages in / s', num(region.msgsInPerSec, '', unreachable), 'msgsInPerSec'],
      ['messages out / s', num(region.msgsOutPerSec, '', unreachable), 'msgsOutPerSec'],
      ['publish→deliver p99', num(region.p99Ms, ' ms', region.error ? unreachable : 'no deliveries in the last 10 s'), 'p99'],
      ...relay,
      ...aiValues(region, cluster),
      ...notificationValues(region, unreachable),
    ]),
    podsTable(region),
  );
  const figures = el('div', { class: 'charts' });
  for (const [name, label] of CHARTS) {
    const figure = el('figure', { 'aria-label': `${label}, ${region.name}, last 15 minutes` }, el('figcaption', {}, label));
    const holder = el('div', { 'aria-hidden': 'true' });
    figure.append(holder);
    figures.append(figure);
    drawChart(`${key}/${name}`, holder, series.get(key)?.[name] ?? []);
  }
  card.append(figures);
  return card;
}

function drawChart(id, holder, points) {
  const xs = points.map((p) => p[0] / 1000);
  const ys = points.map((p) => p[1]);
  let chart = charts.get(id);
  if (chart) {
    holder.append(chart.root);
    chart.setData([xs, ys]);
  } else {
    chart = new uPlot({ width: 190, height: 90, legend: { show: false }, cursor: { show: false }, scales: { x: { time: true, range: () => [(Date.now() - WINDOW_MS) / 1000, Date.now() / 1000] } }, axes: [{ show: false }, { size: 36, font: '10px system-ui' }], series: [{}, { stroke: '#1d4ed8', width: 1.5, spanGaps: false }] }, [xs, ys], holder);
    charts.set(id, chart);
  }
}

function scalingList(scaling) {
  if (scaling.length === 0) return na('no autoscaler status yet');
  return el('ul', { class: 'plain' }, scaling.map((s) => {
    const d = s.lastDecision;
    const last = d ? ` — last: ${new Date(d.time).toLocaleTimeString()} ${d.direction} ${d.fromReplicas}→${d.toReplicas} (${d.reason}) ${d.message}` : ' — no decision yet';
    return el('li', { 'data-scaling-region': s.region }, `${s.region}: ${s.state}${s.message ? ` (${s.message})` : ''}${last}`);
  }));
}

function clusterSection(cluster) {
  const conditions = cluster.conditions.length === 0 ? na('no conditions yet') : el('ul', { class: 'plain' }, cluster.conditions.map((c) => el('li', {}, `${c.type}: ${c.status} (${c.reason})${c.message ? ` — ${c.message}` : ''}`)));
  const failovers = cluster.eventsError ? el('p', { class: 'error' }, `events could not be read: ${cluster.eventsError}`) : cluster.failovers.length === 0 ? na('none recorded') : el('ul', { class: 'plain' }, cluster.failovers.map((e) => el('li', {}, `${new Date(e.time).toLocaleTimeString()} ${e.reason}: ${e.message}`)));
  return el('section', { class: 'cluster', 'data-cluster': cluster.key, 'aria-labelledby': `c-${cluster.key}` },
    el('h2', { id: `c-${cluster.key}` }, `${cluster.namespace}/${cluster.name} `, badge(cluster.phase), cluster.regionsReady ? ` ${cluster.regionsReady} regions ready` : ''),
    el('div', { class: 'cluster-facts' },
      el('div', {}, el('h4', {}, 'Conditions'), conditions),
      el('div', {}, el('h4', {}, 'Scaling'), scalingList(cluster.scaling)),
      el('div', {}, el('h4', {}, 'Failover decisions'), failovers),
      el('div', {}, el('h4', {}, 'AI spend today'), clusterAi(cluster))),
    el('div', { class: 'regions' }, cluster.regions.map((region) => regionCard(cluster, region))),
  );
}

function render(view) {
  const main = $('clusters');
  const op = view.operator;
  $('operator').textContent = op.error ? `operator metrics: ${op.error}` : `operator: ${op.leader === null ? 'leadership unknown' : op.leader ? 'leading' : 'standing by (not leading)'}; ${op.reconciles ?? '–'} reconciles`;
  if (view.error) return main.replaceChildren(el('p', { class: 'error' }, view.error));
  if (view.clusters.length === 0) return main.replaceChildren(el('p', { class: 'empty' }, 'No RealtimeClusters yet.'));
  main.replaceChildren(...view.clusters.map(clusterSection));
}

function append(view) {
  for (const cluster of view.clusters) {
    for (const region of cluster.regions) {
      const key = `${cluster.key}/${region.name}`;
      const s = series.get(key) ?? Object.fromEntries(CHARTS.map(([name]) => [name, []]));
      const values = { connections: region.connections, msgsInPerSec: region.msgsInPerSec, msgsOutPerSec: region.msgsOutPerSec, p99Ms: region.p99Ms, relayLagP99Ms: region.relay?.lagP99Ms ?? null, aiPerSec: region.ai?.perSec ?? null };
      for (const [name] of CHARTS) {
        s[name].push([view.at, values[name]]);
        while (s[name].length && s[name][0][0] < view.at - WINDOW_MS) s[name].shift();
      }
      series.set(key, s);
    }
  }
}

const events = new EventSource('/dashboard/events');
events.addEventListener('open', () => ($('stream').textContent = 'live'));
events.addEventListener('error', () => ($('stream').textContent = 'connection lost; reconnecting…'));
events.addEventListener('history', (event) => {
  const { series: history, view } = JSON.parse(event.data);
  series.clear();
  for (const [key, s] of Object.entries(history)) series.set(key, s);
  render(view);
});
events.addEventListener('sample', (event) => {
  const view = JSON.parse(event.data);
  append(view);
  render(view);
  $('stream').textContent = 'live';
  $('last').textContent = `last sample ${new Date(view.at).toLocaleTimeString()}`;
});
