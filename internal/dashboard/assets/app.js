// ebb's dashboard: the overview, routing, the event stream and actions.
// group.js draws a group's page. Everything from the API is inserted as
// text (el() and textContent), never as HTML: signal names, reasons and
// errors come from outside ebb.
'use strict';

const ebb = (() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 100; // rows per overview page: one small request however many groups

  // el builds an element; strings among kids become text nodes.
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) if (kid != null && kid !== false) e.append(kid);
    return e;
  }

  const state = {
    view: null,
    group: null,
    q: { filter: '', only: 'all', sort: 'name', page: 1 },
    seq: 0,
    shown: new Set(), // groups on the overview page
    token: sessionStorage.getItem('ebb.token') || '',
  };

  // api GETs a JSON answer; errors carry the API's message.
  async function api(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
    return body;
  }

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text;
    n.className = 'notice ' + (kind || '');
    n.hidden = !text;
  }

  // ---- time and numbers ----
  function ago(t, now) {
    const s = Math.max(0, Math.round(((now || Date.now()) - new Date(t).getTime()) / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
    return Math.floor(s / 86400) + 'd' + Math.floor(s / 3600) % 24 + 'h';
  }
  function num(v) {
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  const arrow = { up: '↑', down: '↓', hold: '→' };

  // ---- routing: #/?filter=…&sort=…&page=N and #/group/NAME ----
  function route() {
    const h = location.hash || '#/';
    if (h.startsWith('#/group/')) {
      state.view = 'group';
      state.group = decodeURIComponent(h.slice('#/group/'.length));
      $('overview').hidden = true;
      $('group').hidden = false;
      window.ebbGroup.show(state.group);
      return;
    }
    const p = new URLSearchParams(h.replace(/^#\/?\??/, ''));
    state.q = {
      filter: p.get('filter') || '',
      only: p.get('only') || 'all',
      sort: p.get('sort') || 'name',
      page: Math.max(1, parseInt(p.get('page') || '1', 10) || 1),
    };
    $('filter').value = state.q.filter;
    $('only').value = state.q.only;
    $('sort').value = state.q.sort;
    state.view = 'overview';
    state.group = null;
    $('group').hidden = true;
    $('overview').hidden = false;
    window.ebbGroup.hide();
    loadOverview();
  }

  function setQuery(change) {
    const q = Object.assign({}, state.q, change);
    const p = new URLSearchParams();
    if (q.filter) p.set('filter', q.filter);
    if (q.only !== 'all') p.set('only', q.only);
    if (q.sort !== 'name') p.set('sort', q.sort);
    if (q.page > 1) p.set('page', q.page);
    const s = p.toString();
    location.hash = '#/' + (s ? '?' + s : '');
  }

  // ---- the overview ----
  // A load asked for while one runs runs once after it, with the newest
  // query: events may arrive faster than an answer.
  const overviewLoad = serial(async () => {
    const q = state.q;
    const p = new URLSearchParams({ filter: q.filter, only: q.only, sort: q.sort, page: q.page, limit: PAGE });
    let page;
    try {
      page = await api('v1/overview?' + p);
    } catch (e) {
      notice('Could not load the groups: ' + e.message, 'error');
      return;
    }
    if (state.view !== 'overview') return;
    if ($('notice').classList.contains('error')) notice('');
    renderOverview(page);
    if (!source) {
      // Opened from the first page's sequence, so no change made after
      // the page was read is missed.
      state.seq = page.seq;
      connect();
    }
  });
  function loadOverview() { overviewLoad(); }

  function renderOverview(page) {
    const now = Date.now();
    state.shown = new Set(page.rows.map((r) => r.name));
    const rows = page.rows.map((g) => overviewRow(g, now));
    $('groups').tBodies[0].replaceChildren(...rows);
    const first = page.matched ? (page.page - 1) * page.limit + 1 : 0;
    const last = Math.min(page.matched, page.page * page.limit);
    $('summary').textContent = page.matched === page.groups
      ? `${page.groups} groups`
      : `${page.matched} of ${page.groups} groups match`;
    $('page-info').textContent = `${first}–${last} of ${page.matched} · page ${page.page} of ${page.pages}`;
    $('prev').disabled = page.page <= 1;
    $('next').disabled = page.page >= page.pages;
  }

  function overviewRow(g, now) {
    const f = g.fleet || {};
    const d = g.last_decision;
    const susp = g.suspended && (g.suspended.launch || g.suspended.terminate);
    return el('tr', { 'data-group': g.name, class: g.conditions ? 'has-conditions' : null },
      el('td', { 'data-label': 'Group' },
        el('a', { href: '#/group/' + encodeURIComponent(g.name), class: 'group-link' }, g.name),
        susp ? el('span', { class: 'badge warn' }, 'suspended') : null),
      el('td', { 'data-label': 'Capacity', class: 'capacity' },
        el('span', { class: 'muted' }, String(g.min)), ' ≤ ',
        el('strong', { class: 'desired' }, String(g.desired)), ' ≤ ',
        el('span', { class: 'muted' }, String(g.max))),
      el('td', { 'data-label': 'Instances', class: 'states' }, g.fleet ? [
        el('span', { class: 'badge ok', title: 'in service' }, `${f.in_service} ready`),
        f.launching ? el('span', { class: 'badge info', title: 'launching' }, `${f.launching} launching`) : null,
        f.draining ? el('span', { class: 'badge warn', title: 'draining' }, `${f.draining} draining`) : null,
        f.terminating ? el('span', { class: 'badge warn', title: 'terminating' }, `${f.terminating} stopping`) : null,
      ] : el('span', { class: 'muted' }, 'no provider')),
      el('td', { 'data-label': 'Last decision', class: 'decision' }, d ? [
        el('span', { class: 'dir ' + d.direction, title: d.direction }, `${arrow[d.direction] || ''} ${d.current}→${d.desired}`),
        ' ', el('span', { class: 'reason' }, d.reason),
        ' ', el('span', { class: 'muted', title: d.time }, ago(d.time, now) + ' ago'),
      ] : el('span', { class: 'muted' }, 'none yet')),
      el('td', { 'data-label': 'Conditions', class: 'conds' }, g.conditions ? [
        el('span', { class: 'badge bad' }, String(g.conditions.length)), ' ',
        el('span', { class: 'cond-text', title: g.conditions.join('\n') }, g.conditions[0]),
      ] : el('span', { class: 'muted' }, '—')),
      el('td', { 'data-label': 'Signals', class: 'signals' }, (g.signals || []).map((s) =>
        el('span', { class: 'sig' + (s.missing ? ' missing' : ''), 'data-signal': s.name },
          el('span', { class: 'sig-name' }, s.name), '=', el('span', { class: 'sig-value' }, s.missing ? 'missing' : num(s.value))))));
  }

  // serial wraps an async function so calls never overlap: a call made
  // while one runs makes it run once more when it ends.
  function serial(fn) {
    let running = false, again = false;
    return async function run() {
      if (running) { again = true; return; }
      running = true;
      try { await fn(); } finally {
        running = false;
        if (again) { again = false; run(); }
      }
    };
  }

  // ---- live updates: Server-Sent Events ----
  let source = null;
  function connect() {
    if (source) return;
    source = new EventSource('v1/events' + (state.seq ? '?since=' + state.seq : ''));
    source.onopen = () => live(true);
    source.onerror = () => live(false); // EventSource retries by itself
    source.addEventListener('changed', (e) => {
      const ch = JSON.parse(e.data);
      state.seq = ch.seq;
      const groups = new Set(ch.groups || []);
      if (state.view === 'overview') {
        // Sorting by anything but the name, or showing only groups with
        // conditions, may bring any changed group onto this page.
        const moves = state.q.sort !== 'name' || state.q.only !== 'all';
        if (ch.all || moves || [...groups].some((g) => state.shown.has(g))) loadOverview();
      } else if (state.view === 'group' && (ch.all || groups.has(state.group))) {
        window.ebbGroup.refresh();
      }
    });
  }
  function live(on) {
    const l = $('live');
    l.textContent = on ? 'live' : 'reconnecting…';
    l.className = 'live ' + (on ? 'on' : 'off');
  }

  // ---- actions: confirmed, then sent with the token ----
  function confirmAction(text) {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      const done = (ok) => () => { cleanup(); d.close(); resolve(ok); };
      const ok = done(true), cancel = done(false);
      const onCancel = () => { cleanup(); resolve(false); };
      function cleanup() {
        $('confirm-ok').removeEventListener('click', ok);
        $('confirm-cancel').removeEventListener('click', cancel);
        d.removeEventListener('cancel', onCancel);
      }
      $('confirm-ok').addEventListener('click', ok);
      $('confirm-cancel').addEventListener('click', cancel);
      d.addEventListener('cancel', onCancel); // Escape
      d.showModal();
    });
  }

  // act confirms, POSTs and reports; it answers whether the action was done.
  async function act(what, path, body) {
    if (!(await confirmAction(what + '?'))) return false;
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let r, answer;
    try {
      r = await fetch(path, { method: 'POST', headers, body: body ? JSON.stringify(body) : undefined });
      answer = await r.json().catch(() => null);
    } catch (e) {
      notice(what + ' failed: ' + e.message, 'error');
      return false;
    }
    const msg = (answer && answer.error) || r.status + ' ' + r.statusText;
    if (r.status === 401 || r.status === 403) {
      notice(`Refused (${r.status}): ${msg}`, 'error');
      if (r.status === 401) openToken();
      return false;
    }
    if (!r.ok) {
      notice(`${what} failed: ${msg}`, 'error');
      return false;
    }
    notice(`Done: ${what}` + (answer && answer.message ? ` (${answer.message})` : ''), 'ok');
    return true;
  }

  function openToken() {
    $('token-input').value = state.token;
    $('token-dialog').showModal();
    $('token-input').focus();
  }
  function saveToken(tok) {
    state.token = tok;
    if (tok) sessionStorage.setItem('ebb.token', tok);
    else sessionStorage.removeItem('ebb.token');
    $('token-button').textContent = tok ? 'Token ✓' : 'Token';
    $('token-dialog').close();
  }

  function init() {
    $('token-button').addEventListener('click', openToken);
    $('token-save').addEventListener('click', () => saveToken($('token-input').value.trim()));
    $('token-clear').addEventListener('click', () => saveToken(''));
    $('token-cancel').addEventListener('click', () => $('token-dialog').close());
    $('token-input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') saveToken($('token-input').value.trim());
    });
    $('token-button').textContent = state.token ? 'Token ✓' : 'Token';
    let typing;
    $('filter').addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => setQuery({ filter: $('filter').value.trim(), page: 1 }), 250);
    });
    $('only').addEventListener('change', () => setQuery({ only: $('only').value, page: 1 }));
    $('sort').addEventListener('change', () => setQuery({ sort: $('sort').value, page: 1 }));
    $('prev').addEventListener('click', () => setQuery({ page: state.q.page - 1 }));
    $('next').addEventListener('click', () => setQuery({ page: state.q.page + 1 }));
    window.addEventListener('hashchange', route);
    route();
    if (state.view === 'group') connect(); // the overview connects once it has its sequence
  }

  return { $, el, api, ago, num, arrow, act, notice, serial, state, init, connect };
})();

// group.js is loaded after this file (both deferred, in order); start once
// it has registered itself.
document.addEventListener('DOMContentLoaded', () => ebb.init());
