// The shop-monitor dashboard: polls the monitor's JSON API (/api/v1/lag, /api/v1/history)
// every sampling interval and draws it. Plain script, no dependencies, no build step.
//
// Hooks for tests (and scrapers): rows carry data-group / data-topic / data-partition, cells
// data-field (and data-value with the raw number), badges data-status, chart lines
// data-series / data-points; body[data-state] is loading | waiting | ok | error and
// body[data-sampled-at] is the sampled_at_ms of the report last rendered.
'use strict';

(() => {
  const RANK = { OK: 0, WARNING: 1, REWIND: 2, STALLED: 3, STOPPED: 4 };
  const DEFAULT_INTERVAL_MS = 2000;
  // How much history to keep when the API does not say (History has no keep_ms yet): the
  // monitor's default --monitor-history, or what the first full fetch spans if that is more.
  const DEFAULT_KEEP_MS = 10 * 60 * 1000;
  const FETCH_TIMEOUT_MS = 10000;
  const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

  const $ = (id) => document.getElementById(id);
  const view = {
    report: null,
    points: [], // history points, oldest first
    keepMs: DEFAULT_KEEP_MS,
    scope: '', // '' = one line per group; a group name = one line per topic of that group
    sort: { key: 'status', dir: -1 },
  };

  // ---- formatting (every string from the API goes through esc before it reaches HTML) ----

  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const count = (n) => (n == null ? '—' : integer.format(n));
  const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
  const rate = (n) => (n == null ? '—' : `${n >= 100 ? integer.format(n) : n.toFixed(1)}/s`);

  function duration(s) {
    if (s == null || !Number.isFinite(s)) return '—';
    if (s === 0) return '0 s';
    if (s < 60) return `${s.toFixed(s < 1 ? 2 : 1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }

  const every = (ms) => (ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`);

  // Axis steps in seconds that read well as times.
  const TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  const timeStep = (raw) => TIME_STEPS.find((step) => step >= raw) ?? Math.ceil(raw / 86400) * 86400;
  function timeTick(v) {
    if (v === 0) return '0';
    if (v < 60) return `${+v.toFixed(1)} s`;
    const [big, unit, small, smallUnit] = v < 3600 ? [60, 'm', 1, 's'] : [3600, 'h', 60, 'm'];
    const rest = Math.round((v % big) / small);
    return `${Math.floor(v / big)}${unit}${rest ? ` ${rest}${smallUnit}` : ''}`;
  }

  const known = (status) => (status in RANK ? status : 'UNKNOWN');
  const badge = (status) =>
    `<span class="badge ${known(status).toLowerCase()}" data-status="${esc(status)}">${esc(status)}</span>`;
  const cell = (field, text, value, cls = '') =>
    `<td data-field="${field}"${value === undefined ? '' : ` data-value="${esc(value ?? '')}"`}` +
    `${cls ? ` class="${cls}"` : ''}>${text}</td>`;

  // ---- polling ----

  async function getJson(url) {
    const response = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  async function poll() {
    let interval = view.report?.interval_ms || DEFAULT_INTERVAL_MS;
    try {
      const last = view.points[view.points.length - 1];
      const since = last ? `?since_ms=${last.at_ms + 1}` : '';
      const [lag, history] = await Promise.all([getJson('api/v1/lag'), getJson(`api/v1/history${since}`)]);
      if (history.status !== 200 || !history.body) throw new Error(`history answered HTTP ${history.status}`);
      interval = history.body.interval_ms || interval;
      if (lag.status === 503) {
        showWaiting(lag.body);
      } else if (lag.status !== 200 || !lag.body) {
        throw new Error(`lag answered HTTP ${lag.status}${lag.body?.detail ? `: ${lag.body.detail}` : ''}`);
      } else {
        interval = lag.body.interval_ms || interval;
        merge(history.body, lag.body);
        render(lag.body);
      }
      showBanner(null);
    } catch (error) {
      const reason = error.name === 'TimeoutError' ? 'no answer in time' : error.message;
      showBanner(`Cannot reach the monitor (${reason}). Retrying every ${every(interval)}…`);
      document.body.dataset.state = 'error';
    }
    setTimeout(poll, Math.max(250, interval));
  }

  function merge(history, report) {
    const last = view.points[view.points.length - 1];
    if (last && report.sampled_at_ms < last.at_ms) view.points = []; // the monitor restarted
    const fetched = history.points;
    if (!view.points.length && fetched.length) {
      view.keepMs = Math.max(view.keepMs, fetched[fetched.length - 1].at_ms - fetched[0].at_ms);
    }
    view.keepMs = history.keep_ms || view.keepMs;
    for (const point of fetched) {
      const newest = view.points[view.points.length - 1];
      if (!newest || point.at_ms > newest.at_ms) view.points.push(point);
    }
    const oldest = (view.points[view.points.length - 1]?.at_ms ?? 0) - view.keepMs;
    while (view.points.length && view.points[0].at_ms < oldest) view.points.shift();
  }

  function showBanner(message) {
    const banner = $('banner');
    banner.hidden = !message;
    banner.textContent = message || '';
  }

  function showWaiting(problem) {
    view.report = null;
    view.points = [];
    $('content').hidden = true;
    $('waiting').hidden = false;
    $('waiting-detail').textContent = problem?.detail || '';
    $('sample').textContent = 'No sample yet';
    document.body.dataset.state = 'waiting';
    delete document.body.dataset.sampledAt;
  }

  // ---- rendering ----

  function render(report) {
    view.report = report;
    $('waiting').hidden = true;
    $('content').hidden = false;
    renderHeader(report);
    renderGroups(report);
    renderScope(report);
    renderCharts();
    renderPartitions(report);
    renderTopics(report);
    document.body.dataset.state = 'ok';
    document.body.dataset.sampledAt = String(report.sampled_at_ms);
  }

  function renderHeader(report) {
    const age = Math.max(0, (Date.now() - report.sampled_at_ms) / 1000);
    const stale = age * 1000 > 3 * report.interval_ms + 1000;
    const worst = report.groups.reduce((w, g) => (RANK[g.status] > RANK[w] ? g.status : w), 'OK');
    $('sample').innerHTML =
      `${report.groups.length ? badge(worst) : ''}` +
      `<span>Sampled <b data-field="sampled_at">${esc(clock(report.sampled_at_ms))}</b>` +
      ` <span class="${stale ? 'stale' : 'muted'}" data-field="age">(${esc(duration(age))} ago${stale ? ', stale' : ''})</span></span>` +
      `<span>took <b data-field="sample_duration">${esc(count(report.sample_duration_ms))} ms</b></span>` +
      `<span>every ${esc(every(report.interval_ms))}</span>` +
      `<span class="muted">${esc(String(report.isolation).replace('_', ' '))}</span>`;
  }

  function renderGroups(report) {
    const groups = $('groups');
    if (!report.groups.length) {
      groups.innerHTML = '<p class="empty" data-field="no-groups">No consumer groups are monitored yet.</p>';
      return;
    }
    groups.innerHTML = report.groups.map((g) => {
      const members = g.members == null ? 'members unknown' : `${count(g.members)} member${g.members === 1 ? '' : 's'}`;
      return `<article class="card ${known(g.status).toLowerCase()}" data-group="${esc(g.group)}">
        <header><h3 title="${esc(g.group)}" data-field="group">${esc(g.group)}</h3>${badge(g.status)}</header>
        <p class="meta" data-field="members">${esc(members)} · ${esc(g.state ?? 'coordinator did not answer')}</p>
        <dl class="stats">
          <div><dt>Lag</dt><dd data-field="lag_records" data-value="${esc(g.lag_records)}">${esc(count(g.lag_records))}<small> rec</small></dd></div>
          <div><dt>Lag time</dt><dd data-field="lag_seconds" data-value="${esc(g.lag_seconds ?? '')}">${esc(duration(g.lag_seconds))}</dd></div>
          <div><dt>Consuming</dt><dd data-field="consume_rate" data-value="${esc(g.consume_rate)}">${esc(rate(g.consume_rate))}</dd></div>
        </dl>
        <p class="reason" data-field="reason">${esc(g.reason)}</p>
      </article>`;
    }).join('');
  }

  function renderScope(report) {
    const select = $('scope');
    const names = report.groups.map((g) => g.group);
    if (view.scope && !names.includes(view.scope)) view.scope = '';
    const wanted = ['', ...names].join('\n');
    const have = [...select.options].map((o) => o.value).join('\n');
    if (wanted !== have) {
      select.innerHTML = '<option value="">all groups</option>' +
        names.map((n) => `<option value="${esc(n)}">topics of ${esc(n)}</option>`).join('');
    }
    select.value = view.scope;
  }

  // One line per group, or per topic of the selected group, over the kept history.
  function chartSeries() {
    const within = (point) => (view.scope ? point.groups[view.scope]?.topics ?? {} : point.groups);
    const names = new Set();
    for (const point of view.points) for (const name of Object.keys(within(point))) names.add(name);
    return [...names].sort().map((name, i) => ({
      name,
      color: PALETTE[i % PALETTE.length],
      values: view.points.map((point) => ({ at: point.at_ms, totals: within(point)[name] })),
    }));
  }

  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const base = 10 ** Math.floor(Math.log10(raw));
    const f = raw / base;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * base;
  }

  // axis: { step(raw) -> a readable step near raw, label(value) -> tick text }
  function drawChart(box, series, field, axis) {
    if (!view.points.length) {
      box.innerHTML = '<p class="empty">No history yet.</p>';
      return;
    }
    const width = Math.max(320, Math.round(box.clientWidth || 600));
    const height = 220;
    const pad = { left: 58, right: 14, top: 12, bottom: 26 };
    const t0 = view.points[0].at_ms;
    const t1 = Math.max(view.points[view.points.length - 1].at_ms, t0 + 1);
    let max = 0;
    for (const s of series) for (const v of s.values) if (v.totals?.[field] != null) max = Math.max(max, v.totals[field]);
    const step = axis.step(max / 4);
    const top = Math.max(step, Math.ceil(max / step) * step);
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (1 - v / top) * (height - pad.top - pad.bottom);

    const parts = [];
    for (let v = 0; v <= top + step / 2; v += step) {
      parts.push(`<line class="gridline" x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}"/>`,
        `<text class="tick" x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end">${esc(axis.label(v))}</text>`);
    }
    const bottom = height - pad.bottom;
    const middle = t0 + (t1 - t0) / 2;
    parts.push(`<text class="tick" x="${pad.left}" y="${bottom + 17}" text-anchor="start">${esc(clock(t0))}</text>`);
    if (view.points.length > 2) parts.push(`<text class="tick" x="${x(middle)}" y="${bottom + 17}" text-anchor="middle">${esc(clock(middle))}</text>`);
    parts.push(`<text class="tick" x="${width - pad.right}" y="${bottom + 17}" text-anchor="end">${esc(clock(t1))}</text>`);

    for (const s of series) {
      let d = '';
      let drawn = 0;
      let gap = true;
      let lastPoint = null;
      for (const v of s.values) {
        const value = v.totals?.[field];
        if (value == null) { gap = true; continue; }
        lastPoint = [x(v.at), y(value)];
        d += `${gap ? 'M' : 'L'}${lastPoint[0].toFixed(1)},${lastPoint[1].toFixed(1)}`;
        gap = false;
        drawn += 1;
      }
      parts.push(`<path class="line" d="${d}" stroke="${s.color}" data-series="${esc(s.name)}" data-points="${drawn}"><title>${esc(s.name)}</title></path>`);
      if (lastPoint) parts.push(`<circle cx="${lastPoint[0]}" cy="${lastPoint[1]}" r="3" fill="${s.color}"/>`);
    }
    box.innerHTML = `<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" data-points="${view.points.length}"` +
      ` role="img" aria-label="${esc(field)} over time">${parts.join('')}</svg>`;
  }

  function renderCharts() {
    const series = chartSeries();
    drawChart($('chart-records'), series, 'lag_records', {
      step: (raw) => Math.max(1, niceStep(raw)),
      label: (v) => compact.format(v),
    });
    drawChart($('chart-seconds'), series, 'lag_seconds', { step: timeStep, label: timeTick });
    const latest = view.points[view.points.length - 1];
    $('legend').innerHTML = series.length
      ? series.map((s) => {
        const now = s.values[s.values.length - 1]?.totals;
        return `<span class="item" data-series="${esc(s.name)}"><i style="background:${s.color}"></i>${esc(s.name)}` +
          ` <span class="muted">${esc(count(now?.lag_records))} rec · ${esc(duration(now?.lag_seconds))}</span></span>`;
      }).join('')
      : `<span class="muted">${latest ? 'Nothing to draw for this selection.' : ''}</span>`;
  }

  function compareRows(a, b) {
    const { key, dir } = view.sort;
    const value = (row) => (key === 'status' ? RANK[row.status] ?? -1 : row[key]);
    const order = (p, q, direction) => {
      if (p == null && q == null) return 0;
      if (p == null) return 1; // unknown values last, whichever the direction
      if (q == null) return -1;
      return (typeof p === 'string' ? p.localeCompare(q) : p - q) * direction;
    };
    // Ties: the oldest unread record first, then the most records, then by name.
    return order(value(a), value(b), dir) ||
      order(a.lag_seconds, b.lag_seconds, -1) || order(a.lag_records, b.lag_records, -1) ||
      a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition;
  }

  function renderPartitions(report) {
    const rows = report.groups.flatMap((g) => g.partitions.map((p) => ({ group: g.group, ...p })));
    rows.sort(compareRows);
    for (const th of document.querySelectorAll('#partitions th[data-sort]')) {
      const active = th.dataset.sort === view.sort.key;
      th.setAttribute('aria-sort', active ? (view.sort.dir < 0 ? 'descending' : 'ascending') : 'none');
    }
    $('partitions').tBodies[0].innerHTML = rows.length
      ? rows.map((r) => `<tr class="${known(r.status).toLowerCase()}" data-group="${esc(r.group)}" data-topic="${esc(r.topic)}" data-partition="${esc(r.partition)}">` +
        cell('group', esc(r.group)) + cell('topic', esc(r.topic)) +
        cell('partition', esc(r.partition), r.partition, 'num') +
        cell('committed_offset', r.committed_offset == null ? '<span class="muted" title="never committed">—</span>' : esc(count(r.committed_offset)), r.committed_offset, 'num') +
        cell('log_end_offset', esc(count(r.log_end_offset)), r.log_end_offset, 'num') +
        cell('stable_offset', esc(count(r.stable_offset)), r.stable_offset, 'num') +
        cell('lag_records', esc(count(r.lag_records)), r.lag_records, 'num strong') +
        cell('lag_seconds', esc(duration(r.lag_seconds)), r.lag_seconds, 'num') +
        cell('status', badge(r.status)) + cell('reason', esc(r.reason), undefined, 'reason') +
        '</tr>').join('')
      : '<tr><td colspan="10" class="empty">No partitions.</td></tr>';
  }

  function renderTopics(report) {
    $('topics').tBodies[0].innerHTML = report.topics.length
      ? report.topics.map((t) => `<tr data-topic="${esc(t.topic)}">` +
        cell('topic', esc(t.topic)) + cell('partitions', esc(count(t.partitions)), t.partitions, 'num') +
        cell('log_end_offset', esc(count(t.log_end_offset)), t.log_end_offset, 'num') +
        cell('produce_rate', esc(rate(t.produce_rate)), t.produce_rate, 'num') + '</tr>').join('')
      : '<tr><td colspan="4" class="empty">No topics.</td></tr>';
  }

  // ---- wiring ----

  $('scope').addEventListener('change', (event) => {
    view.scope = event.target.value;
    renderCharts();
  });
  document.querySelector('#partitions thead').addEventListener('click', (event) => {
    const key = event.target.closest('th[data-sort]')?.dataset.sort;
    if (!key || !view.report) return;
    const textual = key === 'group' || key === 'topic';
    view.sort = view.sort.key === key ? { key, dir: -view.sort.dir } : { key, dir: textual ? 1 : -1 };
    renderPartitions(view.report);
  });
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => view.report && renderCharts(), 150);
  });

  poll();
})();
