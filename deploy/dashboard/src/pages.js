// The dashboard's pages. Each takes the query context and returns the nodes to show;
// every number comes from the public REST API, formatted, never computed here.
import * as api from './api.js';
import {
  ABSENT, compactMoney, count, major, money, months, percent, ratio,
} from './format.js';
import { el, figure, table, tiles } from './view.js';

export const MOVEMENTS = [
  { key: 'new_business', type: 'MOVEMENT_TYPE_NEW_BUSINESS', label: 'New business', color: '#2f9e6a' },
  { key: 'expansion', type: 'MOVEMENT_TYPE_EXPANSION', label: 'Expansion', color: '#7cc49a' },
  { key: 'reactivation', type: 'MOVEMENT_TYPE_REACTIVATION', label: 'Reactivation', color: '#9db8f2' },
  { key: 'contraction', type: 'MOVEMENT_TYPE_CONTRACTION', label: 'Contraction', color: '#f2a65a' },
  { key: 'churn', type: 'MOVEMENT_TYPE_CHURN', label: 'Churn', color: '#d9534f' },
];
const LABEL_OF_TYPE = Object.fromEntries(MOVEMENTS.map((m) => [m.type, m.label]));

export function queryParams(ctx) {
  return {
    'query.start_date': ctx.start,
    'query.end_date': ctx.end,
    'query.interval': `INTERVAL_${ctx.interval.toUpperCase()}`,
    'query.filter': ctx.filters,
  };
}

function path(ctx, rest) {
  return `/v1/tenants/${encodeURIComponent(ctx.tenant)}/${rest}`;
}

function dayAfter(date) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

// The days of entry i of a series: periods are clipped to the query, so the first starts
// on the query's start and each later one the day after the previous entry.
export function periodOf(ctx, entries, i) {
  return { start: i === 0 ? ctx.start : dayAfter(entries[i - 1].date), end: entries[i].date };
}

function empty(text) {
  return el('p', { class: 'empty', text });
}

function moneyAxis(ctx) {
  return { ticks: { callback: (v) => compactMoney(v, ctx.currency) } };
}

// The first day of the period (of `interval`) that ends on `date`, clipped to the query:
// weeks are ISO weeks (Monday to Sunday).
export function periodStart(ctx, date) {
  const d = new Date(`${date}T00:00:00Z`);
  switch (ctx.interval) {
    case 'week': d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7)); break;
    case 'month': d.setUTCDate(1); break;
    case 'quarter': d.setUTCMonth(d.getUTCMonth() - (d.getUTCMonth() % 3), 1); break;
    case 'year': d.setUTCMonth(0, 1); break;
    default: break;
  }
  const start = d.toISOString().slice(0, 10);
  return start < ctx.start ? ctx.start : start;
}

// MRR: tiles, MRR with its movements as stacked bars (a bar drills down to its movements).
export async function mrr(ctx) {
  const q = queryParams(ctx);
  const [m, c, layers] = await Promise.all([
    api.get(path(ctx, 'metrics/mrr'), q, ctx.key),
    api.get(path(ctx, 'metrics/churn'), q, ctx.key),
    api.get(path(ctx, 'metrics/mrr_by_cohort'), q, ctx.key),
  ]);
  const entries = m.entries || [];
  if (entries.length === 0) return [empty('No periods in this range.')];
  const last = entries[entries.length - 1];
  const lastChurn = (c.entries || [])[c.entries.length - 1] || {};
  const change = m.summary && m.summary.percentage_change;
  const at = `at ${last.date}`;
  const cur = ctx.currency;
  const head = tiles([
    { label: 'MRR', name: 'mrr', value: money(last.mrr, cur), sub: change === null || change === undefined ? at : `${at}, ${change >= 0 ? '+' : ''}${change.toFixed(1)}% on the period before` },
    { label: 'ARR', name: 'arr', value: money(last.arr, cur), sub: at },
    { label: 'Paying customers', name: 'customers', value: count(last.customers), sub: at },
    { label: 'ARPA', name: 'arpa', value: money(last.arpa, cur), sub: at },
    { label: 'NRR', name: 'nrr', value: percent(lastChurn.nrr), sub: `period ending ${last.date}` },
    { label: 'Customer churn', name: 'customer_churn', value: percent(lastChurn.customer_churn_rate), sub: `period ending ${last.date}` },
  ]);
  const labels = entries.map((e) => e.date);
  const datasets = MOVEMENTS.map((mv) => ({
    type: 'bar', label: mv.label, data: entries.map((e) => major(e[mv.key], cur)),
    backgroundColor: mv.color, stack: 'movements', yAxisID: 'movements', order: 2,
  }));
  datasets.push({
    type: 'line', label: 'MRR', data: entries.map((e) => major(e.mrr, cur)), borderColor: '#2f5bea',
    backgroundColor: '#2f5bea', yAxisID: 'mrr', order: 1, pointRadius: 2, tension: 0,
  });
  const chart = figure({
    name: 'mrr',
    caption: `MRR and its movements (${cur})`,
    hint: 'Click a bar to list its movements.',
    headers: ['Period ending', 'MRR', 'ARR', 'Customers', 'ARPA', ...MOVEMENTS.map((mv) => mv.label)],
    rows: entries.map((e) => [e.date, money(e.mrr, cur), money(e.arr, cur), count(e.customers),
      money(e.arpa, cur), ...MOVEMENTS.map((mv) => money(e[mv.key], cur))]),
    config: {
      type: 'bar',
      data: { labels, datasets },
      options: {
        scales: {
          mrr: { position: 'left', title: { display: true, text: 'MRR' }, ...moneyAxis(ctx) },
          movements: { position: 'right', stacked: true, title: { display: true, text: 'Movements' }, grid: { drawOnChartArea: false }, ...moneyAxis(ctx) },
          x: { stacked: true },
        },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.dataset.label === 'MRR' ? money(entries[item.dataIndex].mrr, cur) : money(entries[item.dataIndex][MOVEMENTS[item.datasetIndex].key], cur)}` } } },
        onClick: (event, elements, chartObj) => {
          const hit = chartObj.getElementsAtEventForMode(event, 'nearest', { intersect: true }, false)
            .find((h) => h.datasetIndex < MOVEMENTS.length);
          if (!hit) return;
          const mv = MOVEMENTS[hit.datasetIndex];
          const period = periodOf(ctx, entries, hit.index);
          ctx.drill({
            title: `${mv.label} movements, ${period.start} to ${period.end}`,
            start: period.start, end: period.end, types: [mv.type],
          });
        },
      },
    },
  });
  return [head, chart, layerCake(ctx, layers)];
}

// MRR by cohort, the layer cake: at each period end, the MRR of the customers won before
// the range and in each period of it (older cohorts darker), and the share of MRR from
// customers won before the period.
function layerCake(ctx, r) {
  const cur = ctx.currency;
  const entries = r.entries || [];
  const cohorts = r.cohorts || [];
  const layer = (e, k) => (e.layer_mrr || [])[k];
  const shade = (k) => `hsl(${220 - Math.round((140 * k) / Math.max(1, cohorts.length - 1))}, 60%, ${35 + Math.round((35 * k) / Math.max(1, cohorts.length - 1))}%)`;
  const datasets = [{
    label: 'Earlier', data: entries.map((e) => major(e.earlier_mrr || 0, cur)), backgroundColor: '#5b6478', stack: 'cake',
  }, ...cohorts.map((cohort, k) => ({
    label: `Won from ${cohort}`, data: entries.map((e) => (layer(e, k) === undefined ? null : major(layer(e, k), cur))),
    backgroundColor: shade(k), stack: 'cake',
  }))];
  return figure({
    name: 'mrr_by_cohort',
    caption: `MRR by cohort: when today's revenue was won (${cur})`,
    headers: ['Period ending', 'MRR', 'From existing customers', 'Won earlier', ...cohorts.map((k) => `Won from ${k}`)],
    rows: entries.map((e) => [e.date, money(e.mrr || 0, cur), percent(e.existing_share), money(e.earlier_mrr || 0, cur),
      ...cohorts.map((_, k) => (layer(e, k) === undefined ? ABSENT : money(layer(e, k), cur)))]),
    config: {
      type: 'bar',
      data: { labels: entries.map((e) => e.date), datasets },
      options: {
        plugins: { legend: { display: cohorts.length <= 12 } },
        scales: { x: { stacked: true }, y: { stacked: true, ...moneyAxis(ctx) } },
      },
    },
  });
}

// Churn: customer, gross and net MRR churn rates; NRR and GRR.
export async function churn(ctx) {
  const groupBy = ctx.extra.group_by || '';
  const c = await api.get(path(ctx, 'metrics/churn'), { ...queryParams(ctx), group_by: groupBy }, ctx.key);
  const toolbar = el('div', { class: 'toolbar' },
    el('div', { class: 'field' }, el('label', { for: 'group_by', text: 'Split by' }),
      el('select', { id: 'group_by', onchange: (e) => ctx.setExtra({ group_by: e.target.value }) },
        [['', 'Nothing'], ['plan', 'Plan'], ['acquisition_channel', 'Acquisition channel'], ['country', 'Country']]
          .map(([v, t]) => el('option', { value: v, selected: v === groupBy, text: t })))));
  const entries = c.entries || [];
  if (entries.length === 0) return [toolbar, empty('No periods in this range.')];
  const labels = entries.map((e) => e.date);
  const pct = (v) => (v === null || v === undefined ? null : v * 100);
  const line = (label, key, color) => ({
    label, data: entries.map((e) => pct(e[key])), borderColor: color, backgroundColor: color,
    pointRadius: 2, spanGaps: false,
  });
  const pctAxis = { ticks: { callback: (v) => `${v}%` } };
  const tooltip = { callbacks: { label: (item) => `${item.dataset.label}: ${item.raw === null ? ABSENT : `${item.raw.toFixed(2)}%`}` } };
  const rates = figure({
    name: 'churn',
    caption: 'Churn rates',
    headers: ['Period ending', 'Customers at start', 'Churned', 'Customer churn', 'Gross MRR churn', 'Net MRR churn', 'NRR', 'GRR', 'Quick ratio'],
    rows: entries.map((e) => [e.date, count(e.customers_at_start), count(e.churned_customers),
      percent(e.customer_churn_rate), percent(e.gross_mrr_churn_rate), percent(e.net_mrr_churn_rate),
      percent(e.nrr), percent(e.grr), ratio(e.quick_ratio)]),
    config: {
      type: 'line',
      data: {
        labels,
        datasets: [line('Customer churn', 'customer_churn_rate', '#d9534f'),
          line('Gross MRR churn', 'gross_mrr_churn_rate', '#f2a65a'),
          line('Net MRR churn', 'net_mrr_churn_rate', '#7a5af2')],
      },
      options: { scales: { y: pctAxis }, plugins: { tooltip } },
    },
  });
  const retention = figure({
    name: 'retention',
    caption: 'Net and gross revenue retention',
    headers: ['Period ending', 'NRR', 'GRR'],
    rows: entries.map((e) => [e.date, percent(e.nrr), percent(e.grr)]),
    config: {
      type: 'line',
      data: { labels, datasets: [line('NRR', 'nrr', '#2f9e6a'), line('GRR', 'grr', '#2f5bea')] },
      options: { scales: { y: pctAxis }, plugins: { tooltip } },
    },
  });
  if (!groupBy) return [toolbar, rates, retention];
  // The cross-tab: customer churn per group (the eight largest drawn, every group tabled).
  const groups = c.groups || [];
  const size = (g) => Number((g.entries[g.entries.length - 1] || {}).customers_at_start || 0);
  const drawn = [...groups].sort((a, b) => size(b) - size(a)).slice(0, 8);
  const palette = ['#2f5bea', '#d9534f', '#2f9e6a', '#f2a65a', '#7a5af2', '#17a2b8', '#8c6d1f', '#e83e8c'];
  const byGroup = figure({
    name: 'churn_by_group',
    caption: `Customer churn by ${groupBy.replace('_', ' ')}`,
    hint: groups.length > drawn.length ? `The ${drawn.length} largest of ${groups.length} groups are drawn; the table has them all.` : null,
    headers: ['Group', 'Period ending', 'Customers at start', 'Churned', 'Customer churn', 'Gross MRR churn', 'NRR'],
    rows: groups.flatMap((g) => g.entries.map((e) => [g.group, e.date, count(e.customers_at_start),
      count(e.churned_customers), percent(e.customer_churn_rate), percent(e.gross_mrr_churn_rate), percent(e.nrr)])),
    config: {
      type: 'line',
      data: {
        labels,
        datasets: drawn.map((g, i) => ({
          label: g.group, data: g.entries.map((e) => pct(e.customer_churn_rate)),
          borderColor: palette[i], backgroundColor: palette[i], pointRadius: 2,
        })),
      },
      options: { scales: { y: pctAxis }, plugins: { tooltip } },
    },
  });
  return [toolbar, byGroup, rates, retention];
}

// Cohorts: a heat map of logo or MRR retention; a cell drills down to the cohort's
// customers (its new-business movements).
export async function cohorts(ctx) {
  const groupBy = ctx.extra.group_by || '';
  const measure = ctx.extra.measure === 'mrr' ? 'mrr' : 'logo';
  const r = await api.get(path(ctx, 'metrics/cohorts'), { ...queryParams(ctx), group_by: groupBy }, ctx.key);
  const list = r.cohorts || [];
  const toolbar = el('div', { class: 'toolbar' },
    el('div', { class: 'field' }, el('label', { for: 'group_by', text: 'Split by' }),
      el('select', { id: 'group_by', onchange: (e) => ctx.setExtra({ group_by: e.target.value }) },
        [['', 'Nothing'], ['acquisition_channel', 'Acquisition channel'], ['country', 'Country']]
          .map(([v, t]) => el('option', { value: v, selected: v === groupBy, text: t })))),
    el('div', { class: 'field' }, el('label', { for: 'measure', text: 'Retention' }),
      el('select', { id: 'measure', onchange: (e) => ctx.setExtra({ measure: e.target.value }) },
        [['logo', 'Customers (logo)'], ['mrr', 'MRR']]
          .map(([v, t]) => el('option', { value: v, selected: v === measure, text: t })))));
  if (list.length === 0) return [toolbar, empty('No cohorts in this range.')];
  const width = Math.max(...list.map((co) => (co.cells || []).length));
  const key = measure === 'mrr' ? 'mrr_retention' : 'logo_retention';
  const headers = ['Cohort', ...(groupBy ? ['Group'] : []), 'Customers', 'Initial MRR',
    ...Array.from({ length: width }, (_, j) => `+${j}`)];
  const rows = list.map((co, k) => {
    const cells = co.cells || [];
    return [co.period, ...(groupBy ? [co.group || ABSENT] : []), count(co.customers),
      money(co.initial_mrr, ctx.currency),
      ...Array.from({ length: width }, (_, j) => {
        const cell = cells[j];
        if (!cell) return { text: '', attrs: { class: 'none' } };
        const v = cell[key];
        const shade = v === null || v === undefined ? '#fff'
          : `hsl(224 70% ${Math.round(97 - Math.min(1, v) * 45)}%)`;
        return {
          text: percent(v),
          attrs: {
            class: 'cell', tabindex: '0',
            'data-cohort': String(k), 'data-offset': String(j),
            'data-shade': shade,
            title: `${co.period}${groupBy ? ` ${co.group}` : ''}, +${j}: ${count(cell.customers)} customers, ${money(cell.mrr, ctx.currency)} MRR`,
          },
        };
      })];
  });
  const heat = table(headers, rows, { class: 'heat' });
  // Colours through the CSSOM (the page's CSP allows no inline style attributes).
  for (const td of heat.querySelectorAll('td.cell')) td.style.background = td.dataset.shade;
  const open = (td) => {
    const co = list[Number(td.dataset.cohort)];
    const start = periodStart(ctx, co.period);
    const filters = [...ctx.filters];
    if (groupBy && co.group) filters.push(`${groupBy}=${co.group}`);
    ctx.drill({
      title: `Cohort ${co.period}${groupBy && co.group ? ` (${co.group})` : ''}: its customers' new business, ${start} to ${co.period}`,
      start, end: co.period, types: ['MOVEMENT_TYPE_NEW_BUSINESS'], filters,
    });
  };
  heat.addEventListener('click', (e) => {
    const td = e.target.closest('td.cell');
    if (td) open(td);
  });
  heat.addEventListener('keydown', (e) => {
    const td = e.target.closest('td.cell');
    if (td && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      open(td);
    }
  });
  const fig = el('figure', { dataset: { chart: 'cohorts' } },
    el('figcaption', { text: `${measure === 'mrr' ? 'MRR' : 'Logo'} retention by cohort` }),
    el('p', { class: 'hint', text: 'Each row is the customers who first paid in its period; +j is j periods later. Select a cell to list the cohort\'s customers.' }),
    el('div', { class: 'scroll' }, heat));
  return [toolbar, fig];
}

// Unit economics: LTV and CAC per period with their ratio, and CAC by channel.
export async function economics(ctx) {
  const r = await api.get(path(ctx, 'metrics/unit_economics'), queryParams(ctx), ctx.key);
  const entries = r.entries || [];
  if (entries.length === 0) return [empty('No periods in this range.')];
  const cur = ctx.currency;
  const last = entries[entries.length - 1];
  const head = tiles([
    { label: 'LTV', name: 'ltv', value: money(last.ltv, cur), sub: `period ending ${last.date}` },
    { label: 'CAC', name: 'cac', value: money(last.cac, cur), sub: `period ending ${last.date}` },
    { label: 'LTV / CAC', name: 'ltv_to_cac', value: ratio(last.ltv_to_cac), sub: `period ending ${last.date}` },
    { label: 'CAC payback', name: 'payback', value: months(last.cac_payback_months), sub: `period ending ${last.date}` },
    { label: 'New customers', name: 'new_customers', value: count(last.new_customers), sub: `period ending ${last.date}` },
  ]);
  const chart = figure({
    name: 'economics',
    caption: `LTV, CAC and their ratio (${cur})`,
    headers: ['Period ending', 'New customers', 'ASP', 'ARPA', 'LTV', 'Spend', 'CAC', 'LTV / CAC', 'CAC payback'],
    rows: entries.map((e) => [e.date, count(e.new_customers), money(e.asp, cur), money(e.arpa, cur),
      money(e.ltv, cur), money(e.spend, cur), money(e.cac, cur), ratio(e.ltv_to_cac), months(e.cac_payback_months)]),
    config: {
      type: 'bar',
      data: {
        labels: entries.map((e) => e.date),
        datasets: [
          { type: 'bar', label: 'LTV', data: entries.map((e) => major(e.ltv, cur)), backgroundColor: '#2f9e6a', yAxisID: 'money', order: 2 },
          { type: 'bar', label: 'CAC', data: entries.map((e) => major(e.cac, cur)), backgroundColor: '#d9534f', yAxisID: 'money', order: 2 },
          { type: 'line', label: 'LTV / CAC', data: entries.map((e) => (e.ltv_to_cac === null ? null : e.ltv_to_cac)), borderColor: '#2f5bea', backgroundColor: '#2f5bea', yAxisID: 'ratio', order: 1, pointRadius: 2 },
        ],
      },
      options: {
        scales: {
          money: { position: 'left', ...moneyAxis(ctx) },
          ratio: { position: 'right', grid: { drawOnChartArea: false }, ticks: { callback: (v) => `${v}×` } },
        },
      },
    },
  });
  const channels = last.channels || [];
  const byChannel = el('figure', { dataset: { chart: 'channels' } },
    el('figcaption', { text: `By acquisition channel, period ending ${last.date}` }),
    channels.length === 0 ? empty('No spend or new customers by channel in this period.')
      : el('div', { class: 'scroll' }, table(['Channel', 'Spend', 'New customers', 'CAC'],
        channels.map((ch) => [ch.channel || '(none)', money(ch.spend, cur), count(ch.new_customers), money(ch.cac, cur)]))));
  return [head, chart, byChannel];
}

// Engagement: a model's score distribution over the paying customers at each period end,
// and the customers scoring lowest at the last one (where customer success starts).
export async function engagement(ctx) {
  const list = await api.get(path(ctx, 'engagement_models'), {}, ctx.key);
  const models = list.models || [];
  if (models.length === 0) {
    return [empty('This tenant has no engagement model yet (saasctl engagement-models create).')];
  }
  const model = models.find((m) => m.model_id === ctx.extra.model) || models[0];
  const picker = el('div', { class: 'toolbar' },
    el('div', { class: 'field' }, el('label', { for: 'model', text: 'Engagement model' }),
      el('select', { id: 'model', onchange: (e) => ctx.setExtra({ model: e.target.value }) },
        models.map((m) => el('option', { value: m.model_id, selected: m.model_id === model.model_id, text: m.name || m.model_id })))));
  const [series, lowest] = await Promise.all([
    api.get(path(ctx, 'metrics/engagement'), { ...queryParams(ctx), model_id: model.model_id }, ctx.key),
    api.get(path(ctx, 'engagement_scores'), {
      ...queryParams(ctx), model_id: model.model_id, order: 'ORDER_SCORE_ASC', page_size: 20,
    }, ctx.key),
  ]);
  const entries = series.entries || [];
  if (entries.length === 0) return [picker, empty('No periods in this range.')];
  const score = (v) => (v === null || v === undefined ? ABSENT : v.toFixed(1));
  const line = (label, key, color) => ({
    label, data: entries.map((e) => (e[key] === null || e[key] === undefined ? null : e[key])),
    borderColor: color, backgroundColor: color, pointRadius: 2,
  });
  const last = entries[entries.length - 1];
  const head = tiles([
    { label: 'Paying customers', name: 'engaged_customers', value: count(last.customers), sub: `at ${last.date}` },
    { label: 'Mean score', name: 'engagement_mean', value: score(last.mean), sub: `at ${last.date}` },
    { label: 'Median score', name: 'engagement_p50', value: score(last.p50), sub: `at ${last.date}` },
  ]);
  const chart = figure({
    name: 'engagement',
    caption: `Engagement scores of paying customers (${model.name || model.model_id})`,
    headers: ['Period ending', 'Paying customers', 'Mean', 'p10', 'p25', 'Median', 'p75', 'p90'],
    rows: entries.map((e) => [e.date, count(e.customers), score(e.mean), score(e.p10), score(e.p25),
      score(e.p50), score(e.p75), score(e.p90)]),
    config: {
      type: 'line',
      data: {
        labels: entries.map((e) => e.date),
        datasets: [line('p25', 'p25', '#f2a65a'), line('Median', 'p50', '#2f5bea'),
          line('Mean', 'mean', '#2f9e6a'), line('p75', 'p75', '#7a5af2')],
      },
      options: { scales: { y: { min: 0, max: 100 } } },
    },
  });
  const names = (model.components || []).map((c, i) => c.name || (c.event_types || []).join(' | ') || `component ${i + 1}`);
  const customers = lowest.customers || [];
  const low = el('figure', { dataset: { chart: 'lowest' } },
    el('figcaption', { text: `Lowest scores at ${lowest.date} (${count(lowest.total)} paying customers)` }),
    customers.length === 0 ? empty('No paying customers then.')
      : el('div', { class: 'scroll' }, table(['Customer', 'Score', ...names],
        customers.map((c) => [c.customer_id, score(c.score), ...(c.components || []).map((x) => String(x))]))));
  return [picker, head, chart, low];
}

// Health: customers and MRR per health group at each period end, where the customers of
// the last one came from, its at-risk customers by MRR (what customer success works
// from), NPS per quarter-like period from survey responses, by health group, and renewal
// rates (terms of a year or more) by count and by amount.
export const HEALTH_GROUPS = [
  { key: 'HEALTH_GROUP_POWER', label: 'Power', color: '#2f9e6a' },
  { key: 'HEALTH_GROUP_NORMAL', label: 'Normal', color: '#9db8f2' },
  { key: 'HEALTH_GROUP_AT_RISK', label: 'At risk', color: '#f2a65a' },
  { key: 'HEALTH_GROUP_LOST', label: 'Lost', color: '#d9534f' },
];
const GROUP_LABEL = Object.fromEntries([...HEALTH_GROUPS.map((g) => [g.key, g.label]),
  ['HEALTH_GROUP_NONE', 'None']]);

export async function health(ctx) {
  const q = queryParams(ctx);
  const cur = ctx.currency;
  // The last 7 days of the range (the listing takes at most 92): who just moved into risk.
  const recentStart = new Date(Date.parse(`${q['query.end_date']}T00:00:00Z`) - 6 * 86400000).toISOString().slice(0, 10);
  const recentFrom = recentStart < q['query.start_date'] ? q['query.start_date'] : recentStart;
  const [h, atRisk, nps, renewals, moves] = await Promise.all([
    api.get(path(ctx, 'metrics/health'), q, ctx.key),
    api.get(path(ctx, 'health_customers'), {
      ...q, group: 'HEALTH_GROUP_AT_RISK', order: 'ORDER_MRR_DESC', page_size: 20,
    }, ctx.key),
    api.get(path(ctx, 'metrics/nps'), { ...q, group_by: 'health' }, ctx.key),
    api.get(path(ctx, 'metrics/renewals'), q, ctx.key),
    api.get(path(ctx, 'health_transitions'), {
      ...q, 'query.start_date': recentFrom, to: 'HEALTH_GROUP_AT_RISK', page_size: 20,
    }, ctx.key),
  ]);
  const entries = h.entries || [];
  if (entries.length === 0) return [empty('No periods in this range.')];
  const groupOf = (e, key) => (e.groups || []).find((g) => g.group === key) || {};
  const last = entries[entries.length - 1];
  const at = `at ${last.date}`;
  const head = tiles(HEALTH_GROUPS.map((g) => ({
    label: g.label,
    name: `health_${g.key.slice(13).toLowerCase()}`,
    value: count(groupOf(last, g.key).customers || 0),
    sub: g.key === 'HEALTH_GROUP_LOST' ? at : `${at}, MRR ${money(groupOf(last, g.key).mrr || 0, cur)}`,
  })));
  const groups = figure({
    name: 'health',
    caption: h.engagement_model_id ? `Customers by health group (scored by ${h.engagement_model_id})`
      : 'Customers by health group (no engagement model: activity and pauses only)',
    headers: ['Period ending', ...HEALTH_GROUPS.flatMap((g) => [g.label, `${g.label} MRR`])],
    rows: entries.map((e) => [e.date, ...HEALTH_GROUPS.flatMap((g) => [
      count(groupOf(e, g.key).customers || 0), money(groupOf(e, g.key).mrr || 0, cur)])]),
    config: {
      type: 'bar',
      data: {
        labels: entries.map((e) => e.date),
        datasets: HEALTH_GROUPS.map((g) => ({
          label: g.label, data: entries.map((e) => Number(groupOf(e, g.key).customers || 0)),
          backgroundColor: g.color, stack: 'groups',
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    },
  });
  // Where the last period end's customers came from.
  const moved = (from, to) => Number(((last.transitions || [])
    .find((t) => t.from === from && t.to === to) || {}).customers || 0);
  const keys = [...HEALTH_GROUPS.map((g) => g.key), 'HEALTH_GROUP_NONE'];
  const transitions = el('figure', { dataset: { chart: 'transitions' } },
    el('figcaption', { text: `Moves between groups in the period ending ${last.date} (rows: before, columns: after)` }),
    el('div', { class: 'scroll' }, table(['From \\ to', ...keys.map((k) => GROUP_LABEL[k])],
      keys.map((from) => [GROUP_LABEL[from], ...keys.map((to) => (from === to && from === 'HEALTH_GROUP_NONE' ? ABSENT : count(moved(from, to))))]))));
  const customers = atRisk.customers || [];
  const risky = el('figure', { dataset: { chart: 'at_risk' } },
    el('figcaption', { text: `At-risk customers at ${atRisk.date}, largest first (${count(atRisk.total)} in all)` }),
    customers.length === 0 ? empty('No customer is at risk then.')
      : el('div', { class: 'scroll' }, table(['Customer', 'MRR', 'Score', 'Last activity', 'Reasons'],
        customers.map((c) => [c.customer_id, money(c.mrr, cur),
          c.score === null || c.score === undefined ? ABSENT : c.score.toFixed(1),
          c.last_activity ? c.last_activity.slice(0, 10) : ABSENT,
          (c.reasons || []).join(', ').replaceAll('_', ' ')]))));
  const recentMoves = moves.transitions || [];
  const newlyAtRisk = el('figure', { dataset: { chart: 'new_at_risk' } },
    el('figcaption', { text: `Moved into at risk from ${recentFrom} to ${q['query.end_date']} (${count(moves.total || 0)} in all)` }),
    recentMoves.length === 0 ? empty('Nobody moved into at risk then.')
      : el('div', { class: 'scroll' }, table(['Day', 'Customer', 'From', 'MRR', 'Reasons'],
        recentMoves.map((t) => [t.date, t.customer_id, GROUP_LABEL[t.from] || 'None', money(t.mrr || 0, cur),
          (t.reasons || []).join(', ').replaceAll('_', ' ')]))));
  const npsEntries = nps.entries || [];
  const npsValue = (v) => (v === null || v === undefined ? ABSENT : v.toFixed(1));
  const palette = { power: '#2f9e6a', normal: '#9db8f2', at_risk: '#f2a65a', lost: '#d9534f', none: '#8a93a6' };
  const npsChart = figure({
    name: 'nps',
    caption: 'Net promoter score, overall and by health group at each period end',
    headers: ['Period ending', 'Group', 'Respondents', 'Promoters', 'Passives', 'Detractors', 'NPS'],
    rows: [['all', npsEntries], ...(nps.groups || []).map((g) => [g.group, g.entries])]
      .flatMap(([group, list]) => list.map((e) => [e.date, group, count(e.respondents),
        count(e.promoters), count(e.passives), count(e.detractors), npsValue(e.nps)])),
    config: {
      type: 'line',
      data: {
        labels: npsEntries.map((e) => e.date),
        datasets: [{ label: 'All', data: npsEntries.map((e) => (e.nps === undefined ? null : e.nps)), borderColor: '#2f5bea', backgroundColor: '#2f5bea', pointRadius: 2 },
          ...(nps.groups || []).map((g) => ({
            label: g.group.replace('_', ' '), data: g.entries.map((e) => (e.nps === undefined ? null : e.nps)),
            borderColor: palette[g.group] || '#5b6478', backgroundColor: palette[g.group] || '#5b6478', pointRadius: 2,
          }))],
      },
      options: { scales: { y: { min: -100, max: 100 } } },
    },
  });
  const renewalEntries = renewals.entries || [];
  const rate = (v) => (v === null || v === undefined ? null : v * 100);
  const renewalChart = figure({
    name: 'renewals',
    caption: 'Renewal rates of annual and longer terms (subscriptions up for renewal in the period)',
    headers: ['Period ending', 'Up', 'Renewed', 'By count', 'By amount', 'Customers up', 'Customers renewed', 'Customers by count', 'Customers by amount'],
    rows: renewalEntries.map((e) => [e.date, count(e.subscriptions.up_for_renewal || 0), count(e.subscriptions.renewed || 0),
      percent(e.subscriptions.rate_by_count), percent(e.subscriptions.rate_by_amount),
      count(e.customers.up_for_renewal || 0), count(e.customers.renewed || 0),
      percent(e.customers.rate_by_count), percent(e.customers.rate_by_amount)]),
    config: {
      type: 'line',
      data: {
        labels: renewalEntries.map((e) => e.date),
        datasets: [
          { label: 'By count', data: renewalEntries.map((e) => rate(e.subscriptions.rate_by_count)), borderColor: '#2f5bea', backgroundColor: '#2f5bea', pointRadius: 2 },
          { label: 'By amount', data: renewalEntries.map((e) => rate(e.subscriptions.rate_by_amount)), borderColor: '#2f9e6a', backgroundColor: '#2f9e6a', pointRadius: 2 },
          { label: 'Customers by count', data: renewalEntries.map((e) => rate(e.customers.rate_by_count)), borderColor: '#f2a65a', backgroundColor: '#f2a65a', pointRadius: 2, borderDash: [4, 3] },
        ],
      },
      options: { scales: { y: { min: 0, title: { display: true, text: '%' } } } },
    },
  });
  return [head, groups, transitions, risky, newlyAtRisk, npsChart, renewalChart];
}

export const PAGES = { mrr, churn, cohorts, economics, engagement, health };

// Movement rows for the drill-down table.
export function movementRows(movements, currency) {
  return movements.map((mv) => [mv.date, mv.customer_id, LABEL_OF_TYPE[mv.type] || mv.type,
    money(mv.amount, currency), money(mv.mrr_before, currency), money(mv.mrr_after, currency),
    (mv.subscription_ids || []).join(', ')]);
}
