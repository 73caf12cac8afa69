// SPDX-License-Identifier: Apache-2.0

/// The dashboard's page shell, style sheet and script, kept in the binary (nothing to install, no CDN): the
/// script reads `/v1/events` and draws every chart as SVG itself.
enum DashboardAssets {
    static let titles: [(page: String, title: String, path: String)] = [
        ("overview", "Overview", "/dashboard/"), ("mesh", "Mesh", "/dashboard/mesh"), ("resources", "Resources", "/dashboard/resources"),
        ("jobs", "Jobs, ledger, plugins", "/dashboard/jobs"),
    ]

    /// The shell of one page (`name` one of ``Dashboard/pages``).
    static func page(_ name: String) -> String {
        let title = titles.first { $0.page == name }?.title ?? name
        let links = titles.map { #"<a href="\#($0.path)"\#($0.page == name ? #" class="current""# : "")>\#($0.title)</a>"# }.joined(separator: "")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>INOS Mesh · \(title)</title><link rel="stylesheet" href="/dashboard/app.css"></head>
            <body data-page="\(name)"><header><h1>INOS Mesh</h1><nav>\(links)</nav><span id="live" class="live off">connecting…</span><span id="node-badge"></span></header>
            <main id="content"><p>Waiting for the node's first snapshot…</p></main>
            <script src="/dashboard/app.js"></script></body></html>

            """
    }

    static let style = ##"""
:root { --bg: #0f1419; --panel: #182029; --line: #2a3542; --text: #dce3ea; --muted: #8b98a5; --in: #4fb3ff; --out: #ffb347;
  --alive: #3fb950; --suspect: #d29922; --dead: #f85149; --under: #58a6ff; --band: #2ea043; --target: #56d364; --over: #f85149; --unknown: #6e7681; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: var(--panel); border-bottom: 1px solid var(--line); }
header h1 { font-size: 16px; margin: 0; }
nav a { color: var(--muted); text-decoration: none; margin-right: 16px; padding: 4px 0; }
nav a.current { color: var(--text); border-bottom: 2px solid var(--in); }
#node-badge { margin-left: auto; color: var(--muted); font-family: ui-monospace, monospace; }
.live { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--line); }
.live.on { background: #1f6f3a; } .live.off { background: #7a2a26; }
main { padding: 16px 20px; max-width: 1200px; }
h2 { font-size: 15px; margin: 18px 0 8px; } h2 .sub, .muted { color: var(--muted); font-weight: normal; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px; }
.card h3 { margin: 0 0 6px; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.big { font-size: 20px; margin-bottom: 4px; }
.mono { font-family: ui-monospace, monospace; font-size: 12px; }
.bar { height: 8px; background: var(--line); border-radius: 4px; overflow: hidden; margin: 6px 0; } .bar > div { height: 100%; background: var(--in); }
.in { color: var(--in); } .out { color: var(--out); }
.pill { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px; background: var(--line); }
.pill.alive { background: #1f4f2a; } .pill.suspect { background: #5a4310; } .pill.dead { background: #6b2320; }
.alerts { list-style: none; padding: 0; margin: 0; } .alerts li { padding: 6px 10px; margin-bottom: 4px; border-radius: 4px; background: var(--panel); border-left: 4px solid var(--alive); }
.alerts li.warn { border-color: var(--suspect); } .alerts li.err { border-color: var(--dead); }
table { border-collapse: collapse; width: 100%; background: var(--panel); } th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: normal; font-size: 12px; }
tr.dead td { color: var(--dead); } tr.suspect td { color: var(--suspect); }
svg.chart, svg.graph { width: 100%; max-width: 760px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
svg .grid { stroke: var(--line); } svg .axis { fill: var(--muted); font-size: 11px; } svg .axis.below { fill: var(--dead); font-weight: bold; }
svg .line-in { fill: none; stroke: var(--in); stroke-width: 2; } svg .line-out { fill: none; stroke: var(--out); stroke-width: 2; }
svg .link { stroke: #44505e; stroke-width: 2; } svg .rtt { fill: var(--muted); font-size: 11px; }
svg .label { fill: var(--text); font-size: 11px; } svg .load { fill: #0f1419; font-size: 12px; font-weight: bold; } svg .age { fill: var(--dead); font-size: 11px; }
.member circle { stroke: #0f1419; stroke-width: 3; }
.member.load-under circle { fill: var(--under); } .member.load-band circle { fill: var(--band); } .member.load-target circle { fill: var(--target); }
.member.load-over circle { fill: var(--over); } .member.load-unknown circle { fill: var(--unknown); }
.member.suspect circle { stroke: var(--suspect); stroke-dasharray: 5 3; } .member.dead circle { fill: #30363d; stroke: var(--dead); }
.member .cross { stroke: var(--dead); stroke-width: 3; } .member.suspect .age { fill: var(--suspect); }
td.load-under { color: var(--under); } td.load-band, td.load-target { color: var(--target); } td.load-over { color: var(--over); }
.legend { color: var(--muted); font-size: 12px; margin: 6px 0; } .sw::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin: 0 4px 0 10px; vertical-align: -1px; background: var(--unknown); }
.sw.load-under::before { background: var(--under); } .sw.load-band::before { background: var(--band); } .sw.load-target::before { background: var(--target); } .sw.load-over::before { background: var(--over); }
.sw.data.held::before { background: var(--in); } .sw.parity.held::before { background: #bc8cff; } .sw.missing::before { background: var(--line); }
.resource { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px 12px; margin: 12px 0; overflow-x: auto; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 18px; margin-bottom: 8px; }
svg.replica-grid .cell.missing { fill: #222b35; stroke: #2f3a47; } svg.replica-grid .cell.data.held { fill: var(--in); } svg.replica-grid .cell.parity.held { fill: #bc8cff; }
svg.replica-grid .cell.parity.missing { stroke: #6e5a99; stroke-dasharray: 2 1; }
.part { display: inline-block; padding: 0 6px; border-radius: 4px; background: var(--line); font-size: 12px; } .part.failed { background: #6b2320; }
svg.credits .earned { fill: var(--alive); } svg.credits .spent { fill: var(--out); }
details { margin-top: 8px; color: var(--muted); }
"""##

    static let script = ##"""
// INOS Mesh dashboard: reads /v1/events (a snapshot a second) and draws the page its path names, charts as SVG.
'use strict';
(function () {
  const page = document.body.dataset.page;
  const content = document.getElementById('content');
  const live = document.getElementById('live');
  let last = null;

  const SVG = 'http://www.w3.org/2000/svg';
  function esc(v) {
    return String(v === undefined || v === null ? '' : v).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }
  function bytes(n) {
    if (n === undefined || n === null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0; let v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }
  function duration(s) {
    if (s === undefined || s === null) return '–';
    s = Number(s);
    if (s < 60) return s.toFixed(0) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.floor(s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  function rtt(us) { return us === undefined || us === null ? '–' : (us >= 1000 ? (us / 1000).toFixed(1) + ' ms' : us.toFixed(0) + ' µs'); }
  function pct(x) { return x === undefined || x === null ? '–' : (x * 100).toFixed(1) + '%'; }
  function short(id) { id = String(id || ''); return id.length > 20 ? id.slice(0, 12) + '…' + id.slice(-6) : id; }
  function el(name, attrs) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function svgText(parent, x, y, text, cls, anchor) {
    const t = el('text', { x: x, y: y, class: cls || '', 'text-anchor': anchor || 'start' });
    t.textContent = text;
    parent.appendChild(t);
    return t;
  }
  /// The load band's colour class of a load.
  function loadClass(load, band) {
    if (load === undefined || load === null) return 'load-unknown';
    if (load >= band.max) return 'load-over';
    if (load < band.low) return 'load-under';
    return Math.abs(load - band.target) <= (band.max - band.target) / 2 ? 'load-target' : 'load-band';
  }

  // MARK: Overview

  function chart(points) {
    const w = 720, h = 200, left = 64, bottom = 24, top = 10;
    const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, class: 'chart', id: 'bandwidth-chart', role: 'img' });
    const max = Math.max(1024, ...points.map(p => Math.max(p.in, p.out)));
    for (let i = 0; i <= 4; i++) {
      const y = top + (h - top - bottom) * (1 - i / 4);
      svg.appendChild(el('line', { x1: left, x2: w - 4, y1: y, y2: y, class: 'grid' }));
      svgText(svg, left - 6, y + 4, bytes(max * i / 4) + '/s', 'axis', 'end');
    }
    if (points.length > 1) {
      const t0 = points[0].at, t1 = points[points.length - 1].at;
      const x = at => left + (w - left - 4) * (t1 === t0 ? 1 : (at - t0) / (t1 - t0));
      const y = v => top + (h - top - bottom) * (1 - v / max);
      for (const [key, cls] of [['in', 'line-in'], ['out', 'line-out']]) {
        const d = points.map((p, i) => (i ? 'L' : 'M') + x(p.at).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ');
        svg.appendChild(el('path', { d: d, class: cls }));
      }
      svgText(svg, left, h - 6, duration(t1 - t0) + ' ago', 'axis');
      svgText(svg, w - 4, h - 6, 'now', 'axis', 'end');
    } else {
      svgText(svg, w / 2, h / 2, 'waiting for the node’s traffic samples…', 'axis', 'middle');
    }
    return svg;
  }

  function renderOverview(s) {
    const st = s.overview.status, m = st.members || { alive: 0, suspect: 0, dead: 0 };
    const store = st.store;
    const r = s.overview.stats.rates;
    const alerts = s.overview.health.checks.filter(c => c.status !== 'OK');
    content.innerHTML = `
      <section class="cards">
        <div class="card"><h3>Node</h3><div class="big mono" id="node-id" title="${esc(st.id)}">${esc(short(st.id))}</div>
          <div>${esc(st.name || '')} · version <span id="node-version">${esc(st.version)}</span> · pid ${esc(st.pid)}</div>
          <div>up <span id="uptime">${esc(duration(st.uptime_seconds))}</span></div></div>
        <div class="card"><h3>Members</h3><div class="big"><span id="member-count">${m.alive + m.suspect + m.dead + 1}</span> known</div>
          <div><span class="pill alive">${m.alive} alive</span> <span class="pill suspect">${m.suspect} suspect</span> <span class="pill dead">${m.dead} dead</span> besides this node</div>
          <div>${esc(st.connections)} session(s)</div></div>
        <div class="card"><h3>Store</h3>${store ? `<div class="big">${bytes(store.free_bytes)} free</div>
          <div class="bar"><div data-share="${store.total_bytes ? store.used_bytes / store.total_bytes : 0}"></div></div>
          <div>${bytes(store.used_bytes)} used of ${bytes(store.total_bytes)} · ${esc(store.pinned_resources ?? '–')} resource(s) pinned</div>` : '<div>no store</div>'}</div>
        <div class="card"><h3>Traffic now</h3><div class="big"><span class="in">▼ ${r ? bytes(r.bytes_in_per_second) : '–'}/s</span> <span class="out">▲ ${r ? bytes(r.bytes_out_per_second) : '–'}/s</span></div>
          <div>${bytes(s.overview.stats.total.bytes_in)} in, ${bytes(s.overview.stats.total.bytes_out)} out since start</div></div>
      </section>
      <section><h2>Bandwidth <span class="legend"><span class="in">■ in</span> <span class="out">■ out</span></span></h2><div id="chart-slot"></div></section>
      <section><h2>Alerts (inos health)</h2><ul class="alerts" id="alerts">${alerts.length ? alerts.map(c => `<li class="${esc(c.status.toLowerCase())}"><b>${esc(c.status)}</b> ${esc(c.name)}: ${esc(c.message)}</li>`).join('') : '<li class="ok">every check OK</li>'}</ul>
        <details><summary>all checks</summary><ul class="alerts">${s.overview.health.checks.map(c => `<li class="${esc(c.status.toLowerCase())}"><b>${esc(c.status)}</b> ${esc(c.name)}: ${esc(c.message)}</li>`).join('')}</ul></details></section>`;
    document.getElementById('chart-slot').appendChild(chart(s.overview.history.map(p => ({ at: p.at, in: p.bytes_in_per_second, out: p.bytes_out_per_second }))));
    for (const b of content.querySelectorAll('.bar > div')) b.style.width = (Number(b.dataset.share) * 100).toFixed(1) + '%';
  }

  // MARK: Mesh

  function renderMesh(s) {
    const mesh = s.mesh, band = mesh.band;
    const w = 720, h = 480, cx = w / 2, cy = h / 2, radius = 170;
    const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, class: 'graph', id: 'mesh-graph', role: 'img' });
    const self = mesh.members.find(m => m.is_self);
    const others = mesh.members.filter(m => !m.is_self);
    const pos = {};
    if (self) pos[self.id] = [cx, cy];
    others.forEach((m, i) => {
      const a = -Math.PI / 2 + 2 * Math.PI * i / Math.max(1, others.length);
      pos[m.id] = [cx + radius * Math.cos(a), cy + radius * Math.sin(a)];
    });
    for (const l of mesh.links) {
      const a = pos[l.from], b = pos[l.to];
      if (!a || !b) continue;
      svg.appendChild(el('line', { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: 'link' }));
      svgText(svg, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2 - 4, rtt(l.rtt_microseconds), 'rtt', 'middle');
    }
    for (const m of mesh.members) {
      const p = pos[m.id];
      const g = el('g', { class: `member ${m.state} ${loadClass(m.load, band)}`, 'data-member': m.id, 'data-state': m.state });
      g.appendChild(el('circle', { cx: p[0], cy: p[1], r: m.is_self ? 30 : 24 }));
      if (m.state !== 'alive') g.appendChild(el('line', { x1: p[0] - 17, y1: p[1] - 17, x2: p[0] + 17, y2: p[1] + 17, class: 'cross' }));
      svgText(g, p[0], p[1] + 4, m.load === undefined || m.load === null ? '?' : (m.load * 100).toFixed(0) + '%', 'load', 'middle');
      svgText(g, p[0], p[1] + (m.is_self ? 46 : 40), m.id.slice(0, 8) + (m.is_self ? ' (this node)' : ''), 'label', 'middle');
      if (m.state !== 'alive') svgText(g, p[0], p[1] + 54, `${m.state} ${duration(m.state_age_seconds)}`, 'age', 'middle');
      const title = el('title'); title.textContent = `${m.id} ${m.state} ${m.address}`; g.appendChild(title);
      svg.appendChild(g);
    }
    const alive = mesh.members.filter(m => m.state === 'alive').length;
    content.innerHTML = `
      <section><h2>Members <span class="sub"><span id="member-count">${mesh.members.length}</span> known: <span id="alive-count">${alive}</span> alive,
        <span id="suspect-count">${mesh.members.filter(m => m.state === 'suspect').length}</span> suspect, <span id="dead-count">${mesh.members.filter(m => m.state === 'dead').length}</span> dead</span></h2>
        <div class="legend">load against the band (${esc(band.source)}): <span class="sw load-under">below ${pct(band.low)}</span>
          <span class="sw load-band">${pct(band.low)}–${pct(band.max)}</span> <span class="sw load-target">near ${pct(band.target)}</span>
          <span class="sw load-over">at or above ${pct(band.max)}</span> <span class="sw load-unknown">no status heard</span></div>
        <div id="graph-slot"></div></section>
      <section><table id="members-table"><thead><tr><th>member</th><th>state</th><th>since</th><th>address</th><th>RTT</th><th>load</th><th>free / capacity</th><th>region</th></tr></thead><tbody>
        ${mesh.members.map(m => `<tr class="${esc(m.state)}" data-member="${esc(m.id)}" data-state="${esc(m.state)}"><td class="mono">${esc(m.id)}${m.is_self ? ' (this node)' : ''}</td><td><span class="pill ${esc(m.state)}">${esc(m.state)}</span></td>
          <td>${esc(duration(m.state_age_seconds))}</td><td class="mono">${esc(m.address)}</td><td title="${esc(m.rtt_source ? 'from ' + (m.rtt_source === 'have' ? 'the last HAVE answer' : 'keepalive') : '')}">${esc(rtt(m.rtt_microseconds))}${m.rtt_source === 'have' ? ' <span class="muted">(HAVE)</span>' : ''}</td><td class="${loadClass(m.load, band)}">${esc(pct(m.load))}</td>
          <td>${m.capacity_bytes !== undefined ? bytes(m.free_bytes) + ' / ' + bytes(m.capacity_bytes) : '–'}</td><td>${esc(m.region || '–')}</td></tr>`).join('')}</tbody></table></section>`;
    document.getElementById('graph-slot').appendChild(svg);
  }

  // MARK: Resources

  function grid(map) {
    const cell = map.pieces.length > 60 ? 8 : 16, left = 150, top = 22;
    const w = left + map.pieces.length * (cell + 2) + 10, h = top + map.holders.length * (cell + 4) + 24;
    const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, class: 'replica-grid', 'data-resource': map.id });
    map.pieces.forEach((p, i) => {
      if (i % Math.max(1, Math.ceil(map.pieces.length / 20)) === 0) svgText(svg, left + i * (cell + 2) + cell / 2, top - 8, String(i), 'axis', 'middle');
    });
    map.holders.forEach((holder, row) => {
      const y = top + row * (cell + 4);
      svgText(svg, left - 8, y + cell - 3, (holder.is_self ? 'this node ' : '') + holder.member.slice(0, 8), 'label', 'end');
      map.pieces.forEach((p, i) => {
        const has = holder.pieces[i];
        const r = el('rect', { x: left + i * (cell + 2), y: y, width: cell, height: cell, rx: 2,
          class: `cell ${p.kind} ${has ? 'held' : 'missing'}`, 'data-piece': i, 'data-holder': holder.member });
        const t = el('title'); t.textContent = `${p.kind} piece ${i} (stripe ${p.stripe}) ${has ? 'held by' : 'not on'} ${holder.member}: ${p.copies}${p.target !== undefined && p.target !== null ? '/' + p.target : ''} copies`;
        r.appendChild(t); svg.appendChild(r);
      });
    });
    const y = top + map.holders.length * (cell + 4) + 14;
    svgText(svg, left - 8, y, 'copies', 'label', 'end');
    map.pieces.forEach((p, i) => {
      if (map.pieces.length <= 40 || i % 5 === 0) svgText(svg, left + i * (cell + 2) + cell / 2, y, String(p.copies), p.target !== undefined && p.target !== null && p.copies < p.target ? 'axis below' : 'axis', 'middle');
    });
    return svg;
  }

  function renderResources(s) {
    const res = s.resources, rep = res.repair;
    content.innerHTML = `
      <section class="cards">${rep ? `<div class="card"><h3>Repair</h3><div class="big" id="repair-progress">${rep.repaired_pieces} piece(s) repaired</div>
        <div>${rep.rounds} round(s), the last ${rep.last_round_seconds_ago !== undefined ? duration(rep.last_round_seconds_ago) + ' ago' : '–'} ·
        ${rep.under_replicated} resource(s) this node leads below target (${rep.pieces_below_target} piece(s)) · ${bytes(rep.repaired_bytes)} pushed · ${rep.released_pieces} released</div></div>` : '<div class="card">no replication on this node</div>'}
        <div class="card"><h3>Resources held</h3><div class="big" id="resource-count">${res.resources.length}</div><div>${res.omitted ? res.omitted + ' more not listed' : 'all listed'}</div></div></section>
      <div class="legend"><span class="sw data held">data chunk held</span> <span class="sw parity held">parity shard held</span> <span class="sw missing">not held</span></div>
      ${res.resources.length ? '' : '<p id="no-resources">This node holds no resource yet (a census runs every few seconds).</p>'}
      ${res.resources.map((m, i) => `<section class="resource" data-resource="${esc(m.id)}"><h2 class="mono">${esc(m.id)}</h2>
        <div class="facts"><span>strategy <b class="strategy">${esc(m.strategy || 'none planned here')}</b></span><span>${m.size !== undefined && m.size !== null ? bytes(m.size) + ' in ' + m.chunks + ' chunk(s)' : 'one chunk (no manifest)'}${m.parity ? ` + ${m.parity} parity shard(s) (${m.data_shards}+${m.parity_shards})` : ''}</span>
        <span>copies <b class="copies">${m.minimum_copies}</b> (fewest of any piece) against target <b class="target">${esc(m.target_copies ?? '–')}</b></span>
        <span>${m.pieces_below_target !== undefined && m.pieces_below_target !== null ? m.pieces_below_target + ' piece(s) below target' : ''}</span>
        <span class="muted">map ${duration(m.age_seconds)} old · plan from ${esc(m.planned)}${m.unanswered.length ? ' · no answer from ' + m.unanswered.map(esc).join(', ') : ''}</span></div>
        <div class="grid-slot" data-index="${i}"></div></section>`).join('')}`;
    for (const slot of content.querySelectorAll('.grid-slot')) slot.appendChild(grid(res.resources[Number(slot.dataset.index)]));
  }

  // MARK: Jobs, ledger, plugins

  function renderJobs(s) {
    const j = s.jobs, l = s.ledger, p = s.plugins;
    const maxCredit = Math.max(1, ...l.accounts.map(a => Math.max(a.earned, a.spent)));
    content.innerHTML = `
      <section><h2>Jobs</h2><div class="facts" id="job-outcomes">${j.compute_enabled ? Object.keys(j.outcomes).sort().map(k => `<span>${esc(k)} <b>${j.outcomes[k]}</b></span>`).join('') || '<span>no chunk job run here yet</span>' : '<span>compute is off on this node</span>'}
        <span class="muted">${j.recorded} job(s) recorded, the newest ${j.history_limit} kept</span></div>
        <table id="jobs-table"><thead><tr><th>finished</th><th>kind</th><th>function</th><th>resource</th><th>parts per node</th><th>retried</th><th>outcome</th><th>seconds</th></tr></thead><tbody>
        ${j.recent.map(x => `<tr class="${esc(x.outcome)}"><td>${esc(new Date(x.finished_at * 1000).toLocaleTimeString())}</td><td>${esc(x.kind)}${x.requester ? ' for ' + esc(short(x.requester)) : ''}</td><td>${esc(x.function)}</td>
          <td class="mono">${esc(short(x.resource))}</td><td>${x.parts.map(pt => `<span class="part ${pt.failed ? 'failed' : ''}" title="${esc(pt.failed || '')}">${esc(pt.node.slice(0, 8))}: ${pt.chunks}</span>`).join(' ')}</td>
          <td>${x.retried}</td><td><span class="pill ${x.outcome === 'succeeded' ? 'alive' : 'dead'}">${esc(x.outcome)}</span> ${esc(x.message || '')}</td><td>${x.seconds.toFixed(2)}</td></tr>`).join('') || '<tr><td colspan="8">no job yet</td></tr>'}</tbody></table></section>
      <section><h2>Ledger <span class="sub">${l.entries} entr${l.entries === 1 ? 'y' : 'ies'} kept here</span></h2>
        <table id="ledger-table"><thead><tr><th>node</th><th>earned</th><th>spent</th><th></th><th>bytes served</th><th>entries</th></tr></thead><tbody>
        ${l.accounts.map((a, i) => `<tr><td class="mono" title="${esc(a.node)}">${esc(a.member)}${a.is_self ? ' (this node)' : ''}</td><td>${a.earned}</td><td>${a.spent}</td><td class="bars" data-index="${i}"></td><td>${bytes(a.bytes)}</td><td>${a.entries}</td></tr>`).join('') || '<tr><td colspan="6">no ledger entry yet</td></tr>'}</tbody></table></section>
      <section><h2>Plugins <span class="sub">${p.swaps} swap(s) since start</span></h2>
        <table id="plugins-table"><thead><tr><th>slot</th><th>kind</th><th>plugin</th><th>ABI</th><th>generation</th><th>draining</th></tr></thead><tbody>
        ${p.slots.map(x => `<tr><td>${esc(x.slot)}</td><td>${esc(x.kind)}</td><td>${esc(x.id)} ${esc(x.version)}</td><td>${esc(x.abi)}</td><td>${x.generation}</td><td>${x.draining}</td></tr>`).join('')}</tbody></table>
        <details><summary>${p.history.length} plugin(s) loaded since start</summary><ul>${p.history.map(x => `<li>${esc(x.id)} ${esc(x.version)} ${x.slot ? 'in ' + esc(x.slot) : ''}: ${esc(x.state)}</li>`).join('')}</ul></details></section>`;
    for (const cell of content.querySelectorAll('td.bars')) {
      const a = l.accounts[Number(cell.dataset.index)];
      const svg = el('svg', { viewBox: '0 0 200 20', width: 200, height: 20, class: 'credits' });
      svg.appendChild(el('rect', { x: 0, y: 2, height: 7, width: (200 * a.earned / maxCredit).toFixed(1), class: 'earned' }));
      svg.appendChild(el('rect', { x: 0, y: 11, height: 7, width: (200 * a.spent / maxCredit).toFixed(1), class: 'spent' }));
      cell.appendChild(svg);
    }
  }

  const renderers = { overview: renderOverview, mesh: renderMesh, resources: renderResources, jobs: renderJobs };

  function apply(s) {
    last = s;
    const open = Array.from(content.querySelectorAll('details[open]')).map(d => d.querySelector('summary').textContent);
    renderers[page](s);
    for (const d of content.querySelectorAll('details')) if (open.includes(d.querySelector('summary').textContent)) d.open = true;
    document.getElementById('node-badge').textContent = short(s.overview.status.id) + ' · v' + s.overview.status.version;
    document.body.dataset.updated = String(s.overview.at);
  }

  function connect() {
    const source = new EventSource('/v1/events');
    source.addEventListener('snapshot', e => {
      live.textContent = 'live'; live.className = 'live on';
      apply(JSON.parse(e.data));
    });
    source.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live off'; };
  }

  // The first census may take a moment: the Resources page asks for it before the stream's cached maps.
  if (page === 'resources') {
    fetch('/v1/dashboard/resources', { credentials: 'same-origin' }).then(r => r.json()).then(res => { if (last) { last.resources = res; apply(last); } }).catch(() => {});
  }
  connect();
})();
"""##
}
