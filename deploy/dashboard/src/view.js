// Building blocks of a page: tiles, a chart with its table view, tables, and the
// registry of live charts (window.dashboard.charts, also what the browser test reads).
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#5b6478';

export const charts = {};

export function destroyCharts() {
  for (const name of Object.keys(charts)) {
    charts[name].destroy();
    delete charts[name];
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c);
  }
  return node;
}

// tiles: [{label, value, sub, name}]
export function tiles(items) {
  return el('div', { class: 'tiles' }, items.map((t) => el('div', { class: 'tile' },
    el('div', { class: 'label', text: t.label }),
    el('div', { class: 'value', dataset: { metric: t.name || '' }, text: t.value }),
    t.sub ? el('div', { class: 'sub', text: t.sub }) : null)));
}

// A table of strings; a cell may be {text, attrs}.
export function table(headers, rows, attrs = {}) {
  const cell = (tag, c) => (typeof c === 'object' && c !== null
    ? el(tag, c.attrs || {}, c.text) : el(tag, {}, c));
  return el('table', attrs,
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => (i === 0 ? cell('th', typeof c === 'object' && c !== null ? { ...c, attrs: { scope: 'row', ...(c.attrs || {}) } } : { text: c, attrs: { scope: 'row' } }) : cell('td', c)))))));
}

// A chart (Chart.js config) with its caption, a hint, and the same numbers as a table.
export function figure({ name, caption, config, headers, rows, hint }) {
  const canvas = el('canvas', { role: 'img', 'aria-label': caption });
  const node = el('figure', { dataset: { chart: name } },
    el('figcaption', { text: caption }),
    el('div', { class: 'chart' }, canvas),
    hint ? el('p', { class: 'hint', text: hint }) : null,
    el('details', {}, el('summary', { text: 'Table view' }),
      el('div', { class: 'scroll' }, table(headers, rows))));
  // Charts are made once the canvas is in the document (Chart.js sizes it then).
  node.makeChart = () => {
    config.options = {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      interaction: { mode: 'index', intersect: false },
      ...config.options,
    };
    charts[name] = new Chart(canvas, config);
  };
  return node;
}

export function mount(main, nodes) {
  main.replaceChildren(...nodes);
  for (const n of nodes) if (n.makeChart) n.makeChart();
}
