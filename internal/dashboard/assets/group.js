// A group's page: capacity and signals over time on aligned axes, the
// decision journal with each decision's explanation, instances, actions.
'use strict';

window.ebbGroup = (() => {
  const { $, el, api, ago, num, arrow, act, notice, serial } = ebb;
  const enc = encodeURIComponent;
  let name = null;
  let charts = {}; // by key: uPlot instances kept across refreshes
  const open = new Set(); // journal entries the user opened, by seq

  function show(g) {
    if (g !== name) {
      destroyCharts();
      open.clear();
      $('scale-to').value = '';
      $('journal').replaceChildren();
      $('instances').tBodies[0].replaceChildren();
    }
    name = g;
    $('group-name').textContent = g;
    document.title = g + ' · ebb';
    refresh();
  }
  function hide() {
    name = null;
    document.title = 'ebb';
    destroyCharts();
  }

  const refresh = serial(async () => {
    const g = name;
    if (g == null) return;
    const base = 'v1/groups/' + enc(g);
    let view, insts, acts, hist;
    try {
      [view, insts, acts, hist] = await Promise.all([
        api(base), api(base + '/instances'), api(base + '/activities?limit=50'), api(base + '/history?since=' + $('range').value),
      ]);
    } catch (e) {
      notice(`Could not load ${g}: ${e.message}`, 'error');
      return;
    }
    if (g !== name) return; // the user moved on meanwhile
    renderSummary(view);
    renderCharts(hist);
    renderJournal(acts.decisions || []);
    renderInstances(insts);
    renderOperator(acts.operator || []);
  });

  function card(label, value, cls) {
    return el('div', { class: 'card ' + (cls || '') }, el('div', { class: 'card-value' }, String(value)), el('div', { class: 'card-label' }, label));
  }

  function renderSummary(v) {
    const f = v.fleet || {};
    const s = v.suspended || {};
    const susp = [s.launch && 'launch', s.terminate && 'terminate'].filter(Boolean);
    $('cards').replaceChildren(
      card('desired (min ' + v.min + ', max ' + v.max + ')', v.desired, 'desired'),
      card('ready', v.fleet ? f.in_service : '—', 'ok'),
      card('launching', v.fleet ? f.launching : '—', 'info'),
      card('draining', v.fleet ? f.draining + (f.terminating || 0) : '—', 'warn'),
      card('suspended', susp.length ? susp.join(', ') : 'no', susp.length ? 'warn' : ''));
    $('group-conditions').replaceChildren(...(v.conditions || []).map((c) => el('li', {}, c)));
    if ($('scale-to').value === '') $('scale-to').value = v.desired;
    const d = v.last_decision;
    $('group-name').title = d ? d.reason : '';
  }

  // ---- charts: one uPlot per series set, all on the same time range, with
  // cursors synchronised so a moment reads across every chart ----
  const palette = { desired: '#2563eb', ready: '#16a34a', launching: '#0891b2', draining: '#d97706', value: '#7c3aed', target: '#dc2626' };

  function chartWidth() {
    return Math.max(280, $('group').clientWidth - 8);
  }

  function plot(key, parent, title, series, data, range) {
    const labels = series.map((s) => s.label).join('\u0000');
    let c = charts[key];
    if (c && c.labels === labels && c.u.root.isConnected) {
      c.u.batch(() => {
        c.u.setData(data, false);
        c.u.setScale('x', range);
      });
      return;
    }
    if (c) c.u.destroy();
    const box = el('div', { class: 'chart', 'data-chart': key });
    parent.append(box);
    const opts = {
      title, width: chartWidth(), height: key === 'capacity' ? 200 : 150,
      cursor: { sync: { key: 'ebb' } },
      scales: { x: { time: true, range: () => [range.min, range.max] } },
      legend: { live: true },
      series: [{}, ...series],
      axes: [{}, { size: 56 }],
    };
    charts[key] = { u: new uPlot(opts, data, box), labels };
  }

  function destroyCharts() {
    for (const c of Object.values(charts)) c.u.destroy();
    charts = {};
    $('chart-capacity').replaceChildren();
    $('chart-signals').replaceChildren();
  }

  const secs = (t) => new Date(t).getTime() / 1000;

  function renderCharts(h) {
    if (typeof uPlot === 'undefined') {
      $('chart-capacity').textContent = 'The chart library did not load.';
      return;
    }
    const cap = h.capacity || [];
    // The axis spans the data within the range asked for (at least 10 s):
    // a group ebb started watching a minute ago fills the width.
    const now = secs(h.now);
    let first = now - 10;
    for (const t of [cap[0] && cap[0].t, ...(h.signals || []).map((s) => s.samples[0] && s.samples[0].t)]) {
      if (t) first = Math.min(first, secs(t));
    }
    const range = { min: Math.max(secs(h.since), first), max: now };
    const stepped = uPlot.paths.stepped({ align: 1 });
    const capSeries = ['desired', 'ready', 'launching', 'draining'].map((k) => ({
      label: k, stroke: palette[k], width: k === 'desired' ? 2 : 1.5, paths: stepped, dash: k === 'desired' ? [6, 3] : undefined,
    }));
    plot('capacity', $('chart-capacity'), 'Capacity', capSeries,
      [cap.map((p) => secs(p.t)), ...['desired', 'ready', 'launching', 'draining'].map((k) => cap.map((p) => p[k]))], range);

    const keep = new Set(['capacity']);
    for (const s of h.signals || []) {
      const key = 'signal:' + s.name;
      keep.add(key);
      const xs = s.samples.map((p) => secs(p.t));
      const series = [{ label: s.name, stroke: palette.value, width: 2 }];
      const data = [xs, s.samples.map((p) => p.v)];
      if (s.target != null) {
        series.push({ label: 'target', stroke: palette.target, width: 1, dash: [4, 4] });
        data.push(xs.map(() => s.target));
      }
      plot(key, $('chart-signals'), s.name, series, data, range);
    }
    for (const [key, c] of Object.entries(charts)) {
      if (!keep.has(key)) {
        c.u.destroy();
        delete charts[key];
      }
    }
    for (const box of [...$('chart-signals').children]) {
      if (!keep.has(box.dataset.chart)) box.remove();
    }
  }

  window.addEventListener('resize', () => {
    for (const c of Object.values(charts)) c.u.setSize({ width: chartWidth(), height: c.u.height });
  });

  // ---- the journal ----
  function renderJournal(entries) {
    const now = Date.now();
    $('journal').replaceChildren(...entries.map((e) => {
      const d = e.decision;
      const det = el('details', { class: 'decision', 'data-seq': e.seq, open: open.has(e.seq) },
        el('summary', {},
          el('span', { class: 'dir ' + d.direction }, `${arrow[d.direction] || ''} ${d.current}→${d.desired}`), ' ',
          el('span', { class: 'reason' }, reasonOf(d)), ' ',
          el('span', { class: 'muted', title: e.time }, ago(e.time, now) + ' ago'),
          e.repeats ? el('span', { class: 'muted' }, ` · held ×${e.repeats} more until ${ago(e.last, now)} ago`) : null),
        explanation(d));
      det.addEventListener('toggle', () => (det.open ? open.add(e.seq) : open.delete(e.seq)));
      return el('li', {}, det);
    }));
    if (!entries.length) $('journal').append(el('li', { class: 'muted' }, 'No decision yet.'));
  }

  // reasonOf is the decision's one line, as model.Decision.Reason says it.
  function reasonOf(d) {
    const steps = d.steps || [];
    if (steps.length) return steps[steps.length - 1].reason;
    const p = (d.policies || [])[d.decider];
    if (p) return p.reason.startsWith(p.policy + ':') || p.reason.startsWith(p.policy + ' ') ? p.reason : p.policy + ': ' + p.reason;
    return d.combined_reason;
  }

  function table(head, rows, cls) {
    return el('table', { class: 'grid small ' + (cls || '') },
      el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
      el('tbody', {}, rows));
  }

  function explanation(d) {
    const steps = d.steps || [];
    const inputs = (d.inputs || []).map((i) => el('tr', { 'data-signal': i.name },
      el('td', {}, i.name),
      el('td', {}, i.missing ? 'missing' : num(i.value)),
      el('td', { class: 'muted' }, i.substituted ? 'substituted per the missing-data rule' : '')));
    const votes = (d.policies || []).map((p, i) => el('tr', { class: i === d.decider ? 'decider' : '' },
      el('td', {}, p.policy),
      el('td', {}, p.opinion === 'abstain' ? 'abstains' : String(p.desired)),
      el('td', {}, p.reason, i === d.decider ? el('span', { class: 'badge info' }, 'decided') : null)));
    const stages = steps.map((s, i) => el('tr', { class: i === steps.length - 1 ? 'binding' : '' },
      el('td', {}, s.stage),
      el('td', {}, `${s.from} → ${s.to}`),
      el('td', {}, s.reason, i === steps.length - 1 ? el('span', { class: 'badge warn' }, 'binding limit') : null)));
    return el('div', { class: 'explanation' },
      el('p', {}, `${d.current} → ${d.desired} (${d.direction}); bounds ${d.min}–${d.max}; the policies proposed ${d.proposed}: `, d.combined_reason),
      el('h4', {}, 'Inputs'),
      inputs.length ? table(['signal', 'value', ''], inputs, 'inputs') : el('p', { class: 'muted' }, 'none'),
      el('h4', {}, 'Policies'),
      table(['policy', 'recommends', 'because'], votes, 'votes'),
      el('h4', {}, 'Limits applied'),
      stages.length ? table(['stage', 'change', 'because'], stages, 'stages') : el('p', { class: 'muted' }, 'none: the proposal stood'),
      (d.notes || []).length ? [el('h4', {}, 'Notes'), el('ul', {}, d.notes.map((n) => el('li', {}, n)))] : null);
  }

  // ---- instances ----
  function renderInstances(insts) {
    const now = Date.now();
    const rows = insts.map((i) => {
      let progress = '';
      if (i.state === 'draining') {
        progress = 'draining for ' + ago(i.state_since, now) + (i.heartbeat_at ? ' · busy check ' + ago(i.heartbeat_at, now) + ' ago' : '');
      } else if (i.state === 'launching' || i.state === 'pending') {
        progress = i.state + ' for ' + ago(i.state_since, now);
      } else if (i.ready_at) {
        progress = 'ready ' + ago(i.ready_at, now) + ' ago';
      }
      return el('tr', { 'data-instance': i.id },
        el('td', { 'data-label': 'Instance' }, i.id, i.protected ? el('span', { class: 'badge info' }, 'protected') : null),
        el('td', { 'data-label': 'State' }, el('span', { class: 'badge state-' + i.state }, i.state)),
        el('td', { 'data-label': 'Age' }, ago(i.launched_at, now)),
        el('td', { 'data-label': 'Zone' }, i.zone || '—'),
        el('td', { 'data-label': 'Progress' }, progress, i.condition ? el('div', { class: 'cond-text' }, i.condition) : null,
          i.reason ? el('div', { class: 'muted' }, i.reason) : null),
        el('td', { class: 'row-actions' },
          el('button', { type: 'button', class: 'drain', onclick: () => instanceAction(i.id, 'drain') }, 'Drain'),
          el('button', { type: 'button', class: 'terminate', onclick: () => instanceAction(i.id, 'terminate') }, 'Terminate')));
    });
    $('instances').tBodies[0].replaceChildren(...rows);
    if (!rows.length) $('instances').tBodies[0].append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No instances.')));
  }

  function renderOperator(events) {
    $('operator').replaceChildren(...events.map((e) => el('li', {},
      el('strong', {}, e.action), ' ', e.detail || '', ' ', el('span', { class: 'muted', title: e.time }, ago(e.time) + ' ago'))));
    if (!events.length) $('operator').append(el('li', { class: 'muted' }, 'None.'));
  }

  async function instanceAction(id, what) {
    const g = name;
    const text = what === 'drain'
      ? `Drain ${id} of ${g} (it finishes its work, then stops; a replacement launches)`
      : `Terminate ${id} of ${g} (drain it, then stop it, lowering desired by one)`;
    const body = what === 'terminate' ? {} : undefined;
    if (await act(text, `v1/groups/${enc(g)}/instances/${enc(id)}/${what}`, body)) refresh();
  }

  function init() {
    $('range').addEventListener('change', () => refresh());
    $('scale').addEventListener('click', async () => {
      const n = parseInt($('scale-to').value, 10);
      if (!(n >= 0)) {
        notice('Desired must be a whole number ≥ 0.', 'error');
        return;
      }
      if (await act(`Scale ${name} to ${n}`, `v1/groups/${enc(name)}/scale`, { desired: n })) refresh();
    });
    $('suspend').addEventListener('click', async () => {
      if (await act(`Suspend launches and scale-in of ${name}`, `v1/groups/${enc(name)}/suspend`)) refresh();
    });
    $('resume').addEventListener('click', async () => {
      if (await act(`Resume launches and scale-in of ${name}`, `v1/groups/${enc(name)}/resume`)) refresh();
    });
  }
  document.addEventListener('DOMContentLoaded', init);

  return { show, hide, refresh };
})();
