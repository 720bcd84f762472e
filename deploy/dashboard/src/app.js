// The saasmetrics dashboard: reads the page and the query from the URL's hash
// (#/mrr?tenant=demo&start=…&end=…&interval=month&filter=…), asks the REST API, and
// draws. The API key is asked once and kept in this browser tab's session storage only.
import * as api from './api.js';
import { PAGES, movementRows } from './pages.js';
import { charts, destroyCharts, mount, table } from './view.js';

const KEY_STORAGE = 'saasmetrics.api_key';
const $ = (id) => document.getElementById(id);
const form = $('controls');
const errorBox = $('error');
const main = $('page');

// What the browser test (and anyone in the console) can look at.
window.dashboard = { charts, renderedAt: null, renders: 0 };

function today() {
  return new Date().toISOString().slice(0, 10);
}

function defaultStart(end) {
  const d = new Date(`${end}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() - 11, 1);
  return d.toISOString().slice(0, 10);
}

// The hash: "#/page?params".
function readState() {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [page, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const end = params.get('end') || today();
  return {
    page: PAGES[page] ? page : 'mrr',
    tenant: params.get('tenant') || '',
    start: params.get('start') || defaultStart(end),
    end,
    interval: params.get('interval') || 'month',
    filter: params.get('filter') || '',
    extra: {
      group_by: params.get('group_by') || '',
      measure: params.get('measure') || '',
      model: params.get('model') || '',
    },
  };
}

function writeState(state) {
  const params = new URLSearchParams();
  for (const k of ['tenant', 'start', 'end', 'interval', 'filter']) if (state[k]) params.set(k, state[k]);
  for (const [k, v] of Object.entries(state.extra || {})) if (v) params.set(k, v);
  const next = `#/${state.page}?${params}`;
  if (window.location.hash === next) render();
  else window.location.hash = next;
}

function formState() {
  const s = readState();
  return {
    ...s,
    tenant: $('tenant').value.trim(),
    start: $('start').value,
    end: $('end').value,
    interval: $('interval').value,
    filter: $('filter').value.trim(),
  };
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

// Filters as typed: "country=US; acquisition_channel=ads,seo" → one API filter each.
function parseFilters(text) {
  return text.split(/[;\n]/).map((f) => f.trim()).filter((f) => f.length > 0);
}

const tenants = new Map();  // tenant id + key → the tenant (its currency)
async function tenantOf(id, key) {
  const k = `${id}\u0000${key}`;
  if (!tenants.has(k)) {
    tenants.set(k, await api.get(`/v1/tenants/${encodeURIComponent(id)}`, {}, key));
  }
  return tenants.get(k);
}

// Tenants this key may list, for the picker, asked only while no tenant is chosen: listing
// needs an admin key of every tenant, and other keys would only be refused.
async function fillTenantList(key) {
  const list = $('tenants');
  list.replaceChildren();
  if (!key || $('tenant').value.trim()) return;
  try {
    const r = await api.get('/v1/tenants', { page_size: 100 }, key);
    for (const t of r.tenants || []) {
      const o = document.createElement('option');
      o.value = t.tenant_id;
      o.label = t.display_name || t.tenant_id;
      list.append(o);
    }
    if (!$('tenant').value && r.tenants && r.tenants.length > 0) {
      $('tenant').value = r.tenants[0].tenant_id;
    }
  } catch {
    // Listing needs an admin key of every tenant; typing the tenant works without it.
  }
}

// The drill-down: movements of a period (and type), paged.
let drillToken = 0;
async function drill(ctx, spec) {
  const token = ++drillToken;
  const section = $('drill');
  const more = $('drill-more');
  $('drill-title').textContent = spec.title;
  const holder = $('drill-table');
  holder.replaceChildren();
  section.hidden = false;
  const rows = [];
  let pageToken = '';
  const load = async () => {
    more.hidden = true;
    section.dataset.state = 'loading';
    try {
      const r = await api.get(`/v1/tenants/${encodeURIComponent(ctx.tenant)}/movements`, {
        'query.start_date': spec.start,
        'query.end_date': spec.end,
        'query.filter': spec.filters || ctx.filters,
        types: spec.types,
        page_size: 100,
        page_token: pageToken,
      }, ctx.key);
      if (token !== drillToken) return;
      rows.push(...movementRows(r.movements || [], ctx.currency));
      const t = table(['Date', 'Customer', 'Movement', 'Amount', 'MRR before', 'MRR after', 'Subscriptions'], rows);
      t.id = 'drill-table';
      holder.replaceWith(t);
      pageToken = r.next_page_token || '';
      more.hidden = !pageToken;
      section.dataset.state = 'ready';
      section.dataset.rows = String(rows.length);
      if (rows.length === 0) $('drill-title').textContent = `${spec.title}: none`;
    } catch (e) {
      section.dataset.state = 'error';
      showError(api.explain(e, ctx.tenant));
    }
  };
  more.onclick = load;
  await load();
  section.scrollIntoView({ block: 'nearest' });
}
$('drill-close').addEventListener('click', () => { $('drill').hidden = true; });

let renderToken = 0;
async function render() {
  const token = ++renderToken;
  const state = readState();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === state.page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
    const params = window.location.hash.split('?')[1];
    a.href = `#/${a.dataset.page}${params ? `?${params}` : ''}`;
  }
  $('tenant').value = state.tenant;
  $('start').value = state.start;
  $('end').value = state.end;
  $('interval').value = state.interval;
  $('filter').value = state.filter;
  $('drill').hidden = true;
  showError('');
  const key = sessionStorage.getItem(KEY_STORAGE) || '';
  if (!state.tenant) {
    destroyCharts();
    main.replaceChildren();
    document.body.dataset.state = 'ready';
    showError(key ? 'Choose a tenant.' : 'Enter an API key and a tenant.');
    return;
  }
  document.body.dataset.state = 'loading';
  try {
    const tenant = await tenantOf(state.tenant, key);
    const ctx = {
      ...state,
      key,
      currency: tenant.currency,
      filters: parseFilters(state.filter),
      drill: (spec) => drill(ctx, spec),
      setExtra: (extra) => writeState({ ...formState(), extra: { ...state.extra, ...extra } }),
    };
    const nodes = await PAGES[state.page](ctx);
    if (token !== renderToken) return;
    destroyCharts();
    mount(main, nodes);
    document.title = `${tenant.display_name || tenant.tenant_id} · saasmetrics`;
    window.dashboard.renderedAt = performance.now();
    window.dashboard.renders += 1;
    document.body.dataset.state = 'ready';
  } catch (e) {
    if (token !== renderToken) return;
    destroyCharts();
    main.replaceChildren();
    showError(api.explain(e, state.tenant));
    document.body.dataset.state = 'error';
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('key').value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  $('key').value = '';
  $('key').placeholder = key || sessionStorage.getItem(KEY_STORAGE) ? 'key kept for this tab' : 'sm_…';
  writeState(formState());
  if (key) fillTenantList(key);
});
window.addEventListener('hashchange', render);

render();  // fills the form from the URL before its first wait
const stored = sessionStorage.getItem(KEY_STORAGE);
if (stored) {
  $('key').placeholder = 'key kept for this tab';
  fillTenantList(stored);
}
