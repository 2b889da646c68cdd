// minikafka's live dashboard: polls /api/state (see broker/src/http/dashboard.rs and
// docs/metrics.md for its JSON) and draws it into index.html. Plain JavaScript, no
// framework, no build step.
//
// What must stay true:
// - Every name and key from the broker goes through esc() before it reaches innerHTML.
// - The DOM keeps stable hooks for the tests (broker/tests/dashboard.rs):
//   [data-topic], .partition[data-partition][data-log-start][data-log-end],
//   .cell[data-offset] (.cell.gap: an offset the log cleaner emptied; .cell.tombstone),
//   .segment[data-base-offset] (.segment.cleaned: the cleaner has been over it),
//   .clean-summary[data-cleaned-up-to] (a partition's last cleaning pass),
//   .partition[data-lso] and .lso[data-lso] (the last stable offset, drawn when an open
//   transaction holds it below the high watermark), .cell.txn-open / .txn-aborted /
//   .txn-committed (a transactional record), .cell.ctrl[data-marker] (a COMMIT or ABORT marker),
//   .group[data-group], .cursor[data-group][data-offset][data-lag],
//   .txn[data-transactional-id][data-state], .open-txn[data-partition][data-first-offset],
//   #events li[data-seq][data-kind].
// - Elements are kept between polls (keyed by topic, partition, group), so the open
//   state of a <details> survives and a cursor slides (a CSS transition) instead of
//   jumping; a partition's cells are redrawn only when its state changed, and only
//   cells newer than the last drawn log end are animated.
'use strict';

const POLL_MS = 500;
const CELL = 46; // px per offset (a cell is 44 px wide, 2 px apart)
const ELLIPSIS = 50; // px of the "…" cell standing for the offsets not drawn
const END_SLOT = 104; // px of the dashed "next offset" slot
const LANE = 22; // px per cursor lane (one per group)
const MAX_EVENTS = 200;
const PALETTE = ['#f59e0b', '#a78bfa', '#34d399', '#f472b6', '#60a5fa', '#fb7185', '#facc15', '#2dd4bf'];
const KIND_NAMES = {
  'topic-created': 'topic created', 'topic-deleted': 'topic deleted',
  'member-joined': 'member joined', 'member-left': 'member left',
  'member-expired': 'member expired', 'rebalance': 'rebalance',
  'assignment': 'assignment', 'segment-rolled': 'segment rolled',
  'segment-deleted': 'retention', 'segment-cleaned': 'cleaned', 'truncated': 'truncated',
};

const seen = {
  lastSeq: 0, // newest event drawn
  logEnds: new Map(), // "topic-partition" -> log end already drawn (to animate newer cells)
  sigs: new Map(), // element key -> what it was drawn from (skip identical redraws)
  groupColors: new Map(),
  nowMs: 0, // the broker's clock at the last answer
};

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function bytes(n) {
  let value = n;
  for (const unit of ['B', 'KiB', 'MiB', 'GiB']) {
    if (value < 1024 || unit === 'GiB') {
      return `${unit === 'B' ? value : value.toFixed(1).replace(/\.0$/, '')} ${unit}`;
    }
    value /= 1024;
  }
  return `${n} B`;
}

// Member ids in a log line, shortened as shortMember() does: "c-1-3f2a9c10-…-…" -> "c-1-3f2a…".
function shortIds(text) {
  return text.replace(/-([0-9a-f]{4})[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '-$1…');
}

function duration(ms) {
  if (ms == null) return 'forever';
  if (ms % 86400000 === 0) return `${ms / 86400000} d`;
  if (ms % 3600000 === 0) return `${ms / 3600000} h`;
  if (ms % 60000 === 0) return `${ms / 60000} min`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function clock(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function ago(ms) {
  const s = Math.max(0, Math.round((seen.nowMs - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function groupColor(id) {
  if (!seen.groupColors.has(id)) {
    seen.groupColors.set(id, PALETTE[seen.groupColors.size % PALETTE.length]);
  }
  return seen.groupColors.get(id);
}

// "consumer-1-3f2a…" for "consumer-1-3f2a9c10-…": the client id and the id's first digits.
function shortMember(m) {
  const rest = m.member_id.startsWith(`${m.client_id}-`)
    ? m.member_id.slice(m.client_id.length + 1)
    : m.member_id;
  return `${m.client_id || 'member'}-${rest.slice(0, 4)}`;
}

// A key as a cell can show it: whole when short, else its end ("…nt_1"), since keys
// such as student_1 / student_2 differ at the end. The whole key is in the tooltip.
function shortKey(key) {
  return key.length <= 5 ? key : `…${key.slice(-4)}`;
}

// A child of `parent` with this data key, made by `make` the first time.
function keyed(parent, selector, make) {
  let node = parent.querySelector(`:scope > ${selector}`);
  if (!node) {
    node = make();
    parent.appendChild(node);
  }
  return node;
}

// Puts `node` at position `index` of `parent`, moving it only when it is elsewhere: a
// move restarts the CSS animations inside it (the new cells would flash forever).
function placeAt(parent, node, index) {
  const here = parent.children[index];
  if (here !== node) parent.insertBefore(node, here || null);
}

// True when `sig` differs from what `key` was last drawn from (and remembers it).
function changed(key, sig) {
  const s = JSON.stringify(sig);
  if (seen.sigs.get(key) === s) return false;
  seen.sigs.set(key, s);
  return true;
}

// Whether the partition's topic is compacted (cleanup.policy has compact).
function compactedPolicy(p) {
  return (p.cleanup_policy || '').includes('compact');
}

// A partition's last cleaning pass, in words ('' when there was none).
function cleanSummary(p) {
  const c = p.last_clean;
  if (!c) {
    if (!compactedPolicy(p)) return '';
    return p.segments.some((s) => s.cleaned)
      ? '<span class="clean-summary none">cleaned before the broker started; no pass since</span>'
      : '<span class="clean-summary none">not cleaned yet: the log cleaner rewrites closed segments ' +
        'once enough of the log is dirty (min.cleanable.dirty.ratio)</span>';
  }
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const parts = [
    `offsets below ${c.cleaned_up_to} cleaned (dirty from ${c.first_dirty})`,
    `${plural(c.segments_before, 'segment', 'segments')} → ${c.segments_after}`,
    `${plural(c.records_before, 'record', 'records')} → ${c.records_after}`,
    `${bytes(c.bytes_before)} → ${bytes(c.bytes_after)}`,
  ];
  if (c.tombstones_removed) parts.push(`${plural(c.tombstones_removed, 'tombstone', 'tombstones')} removed`);
  if (c.next_delete_horizon_ms != null) parts.push(`tombstones kept until ${clock(c.next_delete_horizon_ms)} (delete horizon)`);
  return `<span class="clean-summary" data-cleaned-up-to="${c.cleaned_up_to}" title="the last pass of the log cleaner ` +
    `over this partition; the cleaner checkpoint is now ${c.cleaned_up_to}">` +
    `<span class="clean-badge">cleaned</span> ${ago(c.at_ms)}: ${esc(parts.join(' · '))}</span>`;
}

// ---- who reads what: (topic, partition) -> [{group, member, committed, lag}] ----

function readers(groups) {
  const byPartition = new Map();
  const at = (topic, partition) => {
    const k = `${topic}\u0000${partition}`;
    if (!byPartition.has(k)) byPartition.set(k, new Map());
    return byPartition.get(k);
  };
  for (const g of groups) {
    for (const m of g.members) {
      for (const a of m.assignment) {
        for (const p of a.partitions) {
          const r = at(a.topic, p);
          r.set(g.group_id, { ...(r.get(g.group_id) || {}), group: g.group_id, member: shortMember(m) });
        }
      }
    }
    for (const o of g.offsets) {
      const r = at(o.topic, o.partition);
      r.set(g.group_id, { ...(r.get(g.group_id) || {}), group: g.group_id, committed: o.committed_offset, lag: o.lag });
    }
  }
  return (topic, partition) => [...(byPartition.get(`${topic}\u0000${partition}`) || new Map()).values()]
    .sort((a, b) => a.group.localeCompare(b.group));
}

// ---- topics ----

function drawTopics(st, readersOf) {
  const root = document.getElementById('topics');
  root.querySelector(':scope > .empty')?.remove();
  if (st.topics.length === 0) {
    root.innerHTML = '<p class="empty">No topics yet. Produce something, e.g. ' +
      '<code>cargo run -p minikafka-demo --bin producer</code>.</p>';
    return;
  }
  const names = new Set(st.topics.map((t) => t.name));
  for (const node of root.querySelectorAll(':scope > [data-topic]')) {
    if (!names.has(node.dataset.topic)) node.remove();
  }
  // Room for cells: the panel's width less the ellipsis and the end slot.
  const width = Math.max(320, root.clientWidth - 24);
  const cells = Math.max(4, Math.floor((width - ELLIPSIS - END_SLOT) / CELL));
  // User topics first, then internal ones (collapsed).
  const ordered = [...st.topics].sort((a, b) => (a.internal - b.internal) || a.name.localeCompare(b.name));
  for (const [i, t] of ordered.entries()) {
    const node = keyed(root, `[data-topic="${CSS.escape(t.name)}"]`, () => {
      const n = document.createElement(t.internal ? 'details' : 'section');
      n.className = t.internal ? 'topic internal' : 'topic';
      n.dataset.topic = t.name;
      n.innerHTML = t.internal ? '<summary class="topic-head"></summary><div class="partitions"></div>'
        : '<div class="topic-head"></div><div class="partitions"></div>';
      return n;
    });
    placeAt(root, node, i);
    drawTopic(node, t, st, readersOf, cells, width);
  }
}

function drawTopic(node, t, st, readersOf, cells, width) {
  const records = t.partitions.reduce((n, p) => n + (p.log_end_offset - p.log_start_offset), 0);
  const size = t.partitions.reduce((n, p) => n + p.size_bytes, 0);
  const extra = st.partitions[`${t.name}-0`] || {};
  const head = node.querySelector('.topic-head');
  const policy = t.partitions[0]?.cleanup_policy || 'delete';
  const compacted = policy.includes('compact');
  const facts = [
    `${t.partitions.length} partition${t.partitions.length === 1 ? '' : 's'}`,
    `${records} record${records === 1 ? '' : 's'}`,
    bytes(size),
    `segment.bytes ${bytes(extra.segment_bytes || 0)}`,
  ];
  // Retention deletes nothing from a compact-only topic: its settings would mislead.
  if (policy.includes('delete')) {
    facts.push(`retention.ms ${duration(extra.retention_ms)}`);
    if (extra.retention_bytes != null) facts.push(`retention.bytes ${bytes(extra.retention_bytes)}`);
  }
  if (compacted) facts.push(`cleanup.policy ${policy}`);
  const headHtml = `<span class="topic-name">${esc(t.name)}</span>` +
    (t.internal ? `<span class="tag">internal: ${t.name === '__transaction_state'
      ? 'each transactional id\'s state at the transaction coordinator is a record here'
      : 'every group\'s committed offsets are records here'}</span>` : '') +
    (compacted ? '<span class="tag compacted" title="cleanup.policy=compact: the log cleaner rewrites old segments ' +
      'keeping only the latest record of each key, at its original offset; a null value (tombstone) deletes a key">' +
      'compacted: the latest record per key is kept</span>' : '') +
    `<span class="facts">${esc(facts.join(' · '))}</span>`;
  if (head.innerHTML !== headHtml) head.innerHTML = headHtml;
  const parts = node.querySelector('.partitions');
  for (const p of t.partitions) {
    const pnode = keyed(parts, `[data-partition="${p.partition}"]`, () => {
      const n = document.createElement('div');
      n.className = 'partition';
      n.dataset.topic = t.name;
      n.dataset.partition = p.partition;
      n.innerHTML = '<div class="p-head"></div><div class="p-clean"></div>' +
        '<div class="log"><div class="cells"></div><div class="cursors"></div></div>';
      return n;
    });
    drawPartition(pnode, t, p, st.partitions[`${t.name}-${p.partition}`] || { records: [] },
      readersOf(t.name, p.partition), cells, width);
  }
}

function drawPartition(node, t, p, extra, who, cells, width) {
  const key = `${t.name}-${p.partition}`;
  const start = p.log_start_offset;
  const end = p.log_end_offset;
  const from = Math.max(start, end - cells);
  const left = from > start ? ELLIPSIS : 0;
  const x = (offset) => left + (offset - from) * CELL;
  node.dataset.logStart = start;
  node.dataset.logEnd = end;
  node.dataset.highWatermark = p.high_watermark;
  const lso = p.last_stable_offset ?? p.high_watermark;
  node.dataset.lso = lso;
  // Transactions wrote here: the last stable offset is worth showing.
  const txns = lso < p.high_watermark || (p.open_transactions || []).length > 0 ||
    (p.aborted_transactions || []).length > 0 || extra.records.some((r) => r.transactional);

  const owners = who.filter((r) => r.member).map((r) =>
    `<span class="owner" style="--c:${groupColor(r.group)}" title="group ${esc(r.group)}: member ${esc(r.member)} is assigned this partition">` +
    `${esc(r.group)} → ${esc(r.member)}</span>`).join('');
  const segs = p.segments.length;
  const headHtml = `<span class="p-name">partition ${p.partition}</span>` +
    `<span class="facts">${end - start} record${end - start === 1 ? '' : 's'} · ` +
    `log start ${start} · log end / high watermark ${p.high_watermark} · ` +
    (txns ? `last stable offset ${lso}${lso < p.high_watermark ? ' (a transaction is open)' : ''} · ` : '') +
    `${segs} segment${segs === 1 ? '' : 's'} · ${bytes(p.size_bytes)}</span>${owners}`;
  const head = node.querySelector('.p-head');
  if (head.innerHTML !== headHtml) head.innerHTML = headHtml;
  const cleanHtml = cleanSummary(p);
  const clean = node.querySelector('.p-clean');
  if (clean.innerHTML !== cleanHtml) clean.innerHTML = cleanHtml;

  const logNode = node.querySelector('.log');
  const lanes = who.filter((r) => r.committed != null);
  logNode.style.setProperty('--lanes', lanes.length);
  logNode.style.width = `${x(end) + END_SLOT}px`;

  // The cells, the segment bands and the markers: redrawn when the partition changed.
  if (changed(`cells:${key}`, [p, extra.records, extra.records_from, extra.records_to, cells])) {
    const drawnEnd = seen.logEnds.get(key);
    const animateFrom = drawnEnd == null || drawnEnd > end ? Infinity : drawnEnd;
    const byOffset = new Map(extra.records.map((r) => [r.offset, r]));
    // A segment's offsets run from its base to the next one's: a compacted segment may
    // end in a gap, or (all its records replaced) hold none at all.
    const spanEnd = (i) => (i + 1 < p.segments.length ? p.segments[i + 1].base_offset : p.segments[i].next_offset);
    const segIndex = (o) => p.segments.findIndex((s, i) => o >= s.base_offset && o < spanEnd(i));
    // Offsets read without finding a record: the log cleaner removed them.
    const read = (o) => o >= (extra.records_from ?? end) && o < (extra.records_to ?? end);
    // The LSO, when an open transaction holds it below the high watermark: a line
    // before its offset, labelled above the cells (with the log start when they meet).
    const lsoShown = lso < end && lso >= from;
    const lsoText = `LSO ${lso}: read_committed stops here`;
    let html = `<div class="marker start" style="left:0">log start ${start}` +
      `${lsoShown && x(lso) < 120 ? ` · ${lsoText}` : ''} ↓</div>`;
    if (lsoShown) {
      const why = `last stable offset ${lso}: the first offset of the oldest transaction still open here. ` +
        `read_committed consumers read only below it; read_uncommitted ones up to the high watermark ${end}.`;
      html += `<div class="lso" data-lso="${lso}" style="left:${x(lso) - 3}px" title="${esc(why)}"></div>`;
      if (x(lso) >= 120) html += `<div class="marker lso-label" style="left:${x(lso) - 3}px">${esc(lsoText)} ↓</div>`;
    }
    const opens = p.open_transactions || [];
    const aborts = p.aborted_transactions || [];
    // A transactional record's fate: aborted (between its producer's first offset and
    // ABORT marker), open (its producer's transaction here has no marker yet), or committed.
    const fate = (r, o) => {
      if (aborts.some((a) => a.producer_id === r.producer_id && o >= a.first_offset && o < a.last_offset)) return 'aborted';
      if (opens.some((t) => t.producer_id === r.producer_id && o >= t.first_offset)) return 'open';
      return 'committed';
    };
    if (from > start) {
      const hidden = p.segments.filter((s, i) => spanEnd(i) <= from).length;
      html += `<div class="ellipsis" title="offsets ${start}–${from - 1} are not drawn` +
        `${hidden ? ` (${hidden} older segment${hidden === 1 ? '' : 's'})` : ''}">…</div>`;
    }
    for (let o = from; o < end; o++) {
      const r = byOffset.get(o);
      // A commit in __consumer_offsets is labelled with its offset ("→5"); hover for the rest.
      const commit = t.internal && r && /^offset \d+$/.test(r.value || '');
      const k = r ? (commit ? `→${r.value.slice(7)}` : (r.key == null ? '∅' : shortKey(r.key))) : '';
      const title = r ? `offset ${o}\nkey: ${r.key == null ? '(null)' : r.key}\nvalue: ${r.value == null ? '(null)' : r.value}\ntime: ${new Date(r.timestamp).toISOString()}`
        : `offset ${o}`;
      const seg = segIndex(o);
      const cleaned = p.segments[seg]?.cleaned;
      if (!r && read(o)) {
        html += `<div class="cell gap" data-offset="${o}" style="left:${x(o)}px" title="${esc(
          `offset ${o}: no record any more. The log cleaner removed it: a later record has ` +
          'the same key (or it was a tombstone past its delete horizon). Offsets are never reused.')}">` +
          `<span class="o">${o}</span><span class="k">gap</span></div>`;
        continue;
      }
      if (r && r.marker) {
        html += `<div class="cell ctrl ${r.marker === 'COMMIT' ? 'commit' : 'abort'}${o >= animateFrom ? ' new' : ''}" ` +
          `data-offset="${o}" data-marker="${r.marker}" style="left:${x(o)}px" title="${esc(
          `offset ${o}: a ${r.marker} marker, a control batch the transaction coordinator wrote to end ` +
          `producer ${r.producer_id}'s transaction here. It takes an offset, but no consumer ever gets it.`)}">` +
          `<span class="o">${o}</span><span class="k">${r.marker}</span></div>`;
        continue;
      }
      if (r && r.transactional) {
        const f = fate(r, o);
        const words = {
          open: 'in an open transaction: read_uncommitted consumers see it, read_committed ones not yet (it is past the LSO)',
          aborted: 'aborted: it stays in the log, but read_committed consumers skip it (the .txnindex lists its transaction)',
          committed: 'committed in a transaction: every consumer sees it',
        }[f];
        html += `<div class="cell seg-${seg % 2 ? 'b' : 'a'} txn-${f}${o >= animateFrom ? ' new' : ''}" data-offset="${o}" ` +
          `style="left:${x(o)}px" title="${esc(`${title}\nproducer ${r.producer_id}, ${words}`)}"><span class="o">${o}</span>` +
          `<span class="k">${esc(k)}</span></div>`;
        continue;
      }
      const tombstone = compactedPolicy(p) && r && r.key != null && r.value == null;
      const kind = tombstone ? ' tombstone' : (cleaned ? ` kept seg-${seg % 2 ? 'd' : 'c'}` : ` seg-${seg % 2 ? 'b' : 'a'}`);
      const why = tombstone ? '\ntombstone: a null value deletes this key; the cleaner keeps it until its delete horizon'
        : (cleaned ? '\nkept by the log cleaner: the latest record of its key, at its original offset' : '');
      html += `<div class="cell${kind}${o >= animateFrom ? ' new' : ''}" data-offset="${o}" ` +
        `style="left:${x(o)}px" title="${esc(title + why)}"><span class="o">${o}</span>` +
        `<span class="k">${esc(k)}</span></div>`;
    }
    html += `<div class="end-slot" style="left:${x(end)}px" title="log end offset = high watermark = ${end}` +
      `${txns && lso === end ? ' = last stable offset (no transaction open)' : ''}: ` +
      `the next record appended gets this offset"><span class="o">${end}</span>` +
      `<span class="k">${txns && lso === end ? 'end / HW / LSO' : 'log end / HW'}</span></div>`;
    p.segments.forEach((s, i) => {
      const active = i === p.segments.length - 1;
      const last = spanEnd(i);
      if (last <= from && !(active && s.next_offset === s.base_offset)) return;
      const a = Math.max(s.base_offset, from);
      const empty = active && s.base_offset === s.next_offset;
      const l = empty ? x(end) : x(a);
      const w = empty ? END_SLOT : x(last) - x(a);
      const name = s.file.split('/').pop();
      // As much of "segment <file> · <size> · active" as fits; else the file name's end.
      const fits = Math.floor((w - 8) / 6.3);
      const state = active ? ' · active' : (s.cleaned ? ' · cleaned' : '');
      const words = [`segment ${name} · ${bytes(s.size_bytes)}${state}`,
        `${name} · ${bytes(s.size_bytes)}${state}`, `${name}${state}`];
      // Too narrow for the whole name: its end (a cleaned one says so first).
      const tail = (room) => `…${name.slice(-Math.max(1, room - 1))}`;
      if (s.cleaned) words.push(`cleaned ${tail(fits - 8)}`, 'cleaned');
      else words.push(name);
      const label = words.find((t) => t.length <= fits) || tail(fits);
      html += `<div class="segment${active ? ' active' : ''}${s.cleaned ? ' cleaned' : ''}${s.base_offset >= from ? ' starts' : ''}" ` +
        `style="left:${l}px;width:${w}px" data-base-offset="${s.base_offset}" ` +
        `title="segment ${esc(s.file)}: ${empty ? 'no records yet' : `offsets ${s.base_offset}–${last - 1}`}, ` +
        `${bytes(s.size_bytes)}, ` +
        `${s.index_entries} index entries${active ? ' (active: appends go here; never cleaned)' : ''}` +
        `${s.cleaned ? '; cleaned: the log cleaner kept the latest record of each key, so its offsets have gaps' : ''}">` +
        `<span class="seg-label"><span>${esc(label)}</span></span></div>`;
    });
    node.querySelector('.cells').innerHTML = html;
    seen.logEnds.set(key, end);
  }

  // The cursors: kept, so that they slide to their new offset.
  const layer = node.querySelector('.cursors');
  const groups = new Set(lanes.map((r) => r.group));
  for (const c of layer.querySelectorAll('.cursor')) {
    if (!groups.has(c.dataset.group)) c.remove();
  }
  lanes.forEach((r, lane) => {
    const c = keyed(layer, `.cursor[data-group="${CSS.escape(r.group)}"]`, () => {
      const n = document.createElement('div');
      n.className = 'cursor';
      n.dataset.group = r.group;
      n.innerHTML = '<span class="arrow">▲</span><span class="label"></span>';
      return n;
    });
    const off = r.committed;
    const at = off < from ? left / 2 : x(Math.min(off, end)) + CELL / 2;
    c.dataset.offset = off;
    c.dataset.lag = r.lag ?? '';
    c.style.setProperty('--c', groupColor(r.group));
    c.style.left = `${at}px`;
    c.style.top = `calc(var(--cursor-top) + ${lane * LANE}px)`;
    c.classList.toggle('caught-up', r.lag === 0);
    const text = `${r.group}${r.member ? ` (${r.member})` : ''} · committed ${off}` +
      ` · lag ${r.lag ?? '?'}${off < from ? ' (behind the drawn offsets)' : ''}`;
    const label = esc(text);
    // Labels go right of the arrow, or left of it when they would leave the panel.
    const labelWidth = 24 + 6.7 * text.length;
    c.classList.toggle('flip', at + labelWidth > width && at > labelWidth);
    const span = c.querySelector('.label');
    if (span.innerHTML !== label) span.innerHTML = label;
    c.title = `group ${r.group} resumes partition ${p.partition} at offset ${off}; ` +
      `lag = log end ${end} − committed ${off} = ${r.lag ?? '?'}`;
  });
}

// ---- groups ----

const STATE_CLASS = {
  Stable: 'ok', Empty: 'idle', Dead: 'bad', PreparingRebalance: 'busy', CompletingRebalance: 'busy',
};

function drawGroups(st) {
  const root = document.getElementById('groups');
  if (st.groups.length === 0) {
    if (!root.querySelector('.empty')) {
      root.innerHTML = '<p class="empty">No consumer groups yet. Start one, e.g. ' +
        '<code>cargo run -p minikafka-demo --bin consumer</code>.</p>';
    }
    return;
  }
  root.querySelector(':scope > .empty')?.remove();
  const ids = new Set(st.groups.map((g) => g.group_id));
  for (const node of root.querySelectorAll(':scope > [data-group]')) {
    if (!ids.has(node.dataset.group)) node.remove();
  }
  for (const [i, g] of st.groups.entries()) {
    const node = keyed(root, `[data-group="${CSS.escape(g.group_id)}"]`, () => {
      const n = document.createElement('div');
      n.className = 'group';
      n.dataset.group = g.group_id;
      return n;
    });
    placeAt(root, node, i);
    node.dataset.state = g.state;
    node.dataset.generation = g.generation;
    node.style.setProperty('--c', groupColor(g.group_id));
    if (!changed(`group:${g.group_id}`, g)) continue;
    const members = g.members.map((m) => {
      const parts = m.assignment.flatMap((a) => a.partitions.map((p) => `${a.topic}-${p}`));
      return `<li class="member" data-member="${esc(m.member_id)}" title="member id ${esc(m.member_id)}\n` +
        `client id ${esc(m.client_id)}, host ${esc(m.client_host)}\nsession timeout ${m.session_timeout_ms} ms">` +
        `<span class="who"><span class="name">${esc(shortMember(m))}</span>` +
        `${m.member_id === g.leader ? '<span class="leader">leader</span>' : ''}</span>` +
        `<span class="session">${esc(m.client_host)} · session timeout ${duration(m.session_timeout_ms)}</span>` +
        `<span class="parts">${parts.length ? parts.map((p) => `<span class="chip">${esc(p)}</span>`).join('')
          : '<span class="none">no partitions (yet)</span>'}</span></li>`;
    }).join('');
    const offsets = g.offsets.map((o) => {
      const end = o.log_end_offset;
      const pct = end ? Math.round(100 * o.committed_offset / end) : 100;
      return `<tr data-topic="${esc(o.topic)}" data-partition="${o.partition}" data-offset="${o.committed_offset}">` +
        `<td>${esc(o.topic)}-${o.partition}</td><td class="num">${o.committed_offset}</td>` +
        `<td class="num">${end ?? '–'}</td><td class="num lag${o.lag ? '' : ' zero'}">${o.lag ?? '–'}</td>` +
        `<td class="bar"><span style="width:${pct}%"></span></td></tr>`;
    }).join('');
    node.innerHTML = `<div class="g-head"><span class="g-name">${esc(g.group_id)}</span>` +
      `<span class="state ${STATE_CLASS[g.state] || ''}">${esc(g.state)}</span>` +
      `<span class="facts">generation ${g.generation}${g.protocol ? ` · ${esc(g.protocol)}` : ''}` +
      ` · ${g.members.length} member${g.members.length === 1 ? '' : 's'}</span></div>` +
      (members ? `<ul class="members">${members}</ul>` : '<p class="none">no members (offsets kept in __consumer_offsets)</p>') +
      (offsets ? '<table class="offsets"><thead><tr><th>partition</th><th>committed</th><th>log end</th>' +
        `<th>lag</th><th></th></tr></thead><tbody>${offsets}</tbody></table>` : '<p class="none">nothing committed yet</p>');
  }
}

// ---- transactions ----

const TXN_CLASS = {
  Ongoing: 'busy', PrepareCommit: 'busy', PrepareAbort: 'busy', CompleteCommit: 'ok',
  CompleteAbort: 'bad', Empty: '', Dead: 'bad',
};

function drawTransactions(st) {
  const root = document.getElementById('transactions');
  const txns = st.transactions || [];
  if (!changed('transactions', [txns, st.topics.map((t) => t.partitions.map((p) => p.open_transactions))])) return;
  if (txns.length === 0) {
    root.innerHTML = '<p class="empty">No transactional producers yet (a producer with a ' +
      '<code>transactional.id</code>; see docs/transactions.md).</p>';
    return;
  }
  // Where each producer id's transaction is open: "topic-partition" -> first offset.
  const openAt = new Map();
  for (const t of st.topics) {
    for (const p of t.partitions) {
      for (const o of p.open_transactions || []) {
        if (!openAt.has(o.producer_id)) openAt.set(o.producer_id, new Map());
        openAt.get(o.producer_id).set(`${t.name}-${p.partition}`, { first: o.first_offset, lso: p.last_stable_offset });
      }
    }
  }
  root.innerHTML = txns.map((x) => {
    const here = openAt.get(x.producer_id) || new Map();
    const parts = x.partitions.map((tp) => {
      const name = `${tp.topic}-${tp.partition}`;
      const o = here.get(name);
      return `<li class="open-txn" data-partition="${esc(name)}" data-first-offset="${o ? o.first : ''}">` +
        `<span class="chip">${esc(name)}</span>` +
        (o ? `<span class="holds">open from offset ${o.first}: holds the LSO at ${o.lso}</span>`
          : '<span class="none">in the transaction, no record written yet</span>') + '</li>';
    }).join('');
    const started = x.start_ms != null ? ` · started ${ago(x.start_ms)}` : '';
    return `<div class="txn" data-transactional-id="${esc(x.transactional_id)}" data-state="${esc(x.state)}">` +
      `<div class="g-head"><span class="t-name">${esc(x.transactional_id)}</span>` +
      `<span class="state ${TXN_CLASS[x.state] || ''}">${esc(x.state)}</span>` +
      `<span class="facts">producer id ${x.producer_id} · epoch ${x.producer_epoch} · ` +
      `timeout ${duration(x.timeout_ms)}${started}</span></div>` +
      (parts ? `<ul class="open-txns">${parts}</ul>` : '<p class="none">no transaction open</p>') + '</div>';
  }).join('');
}

// ---- events ----

function drawEvents(st) {
  const list = document.getElementById('events');
  if (st.last_event_seq < seen.lastSeq) {
    // The broker restarted: its events start again at 1.
    list.innerHTML = '';
    seen.lastSeq = 0;
    return;
  }
  for (const e of st.events) {
    if (e.seq <= seen.lastSeq) continue;
    const li = document.createElement('li');
    // Events of internal topics (a roll of __consumer_offsets) are dimmed, like the topic.
    li.className = `ev kind-${e.kind}${seen.lastSeq ? ' new' : ''}` +
      `${e.text.includes('__consumer_offsets') ? ' internal' : ''}`;
    li.dataset.seq = e.seq;
    li.dataset.kind = e.kind;
    li.dataset.at = e.at_ms;
    li.innerHTML = `<span class="when"><span class="clock">${clock(e.at_ms)}</span><span class="ago"></span></span>` +
      `<span class="badge">${esc(KIND_NAMES[e.kind] || e.kind)}</span>` +
      `<span class="text" title="${esc(e.text)}">${esc(shortIds(e.text))}</span>`;
    list.prepend(li);
    seen.lastSeq = e.seq;
  }
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  for (const li of list.children) li.querySelector('.ago').textContent = ago(Number(li.dataset.at));
  if (!list.children.length) list.innerHTML = '<li class="empty">No events yet.</li>';
  else list.querySelector(':scope > .empty')?.remove();
}

// ---- the loop ----

function setStatus(kind, text) {
  const s = document.getElementById('status');
  s.className = `status ${kind}`;
  s.dataset.status = kind;
  document.getElementById('status-text').textContent = text;
}

async function poll() {
  try {
    const resp = await fetch(`api/state?since=${seen.lastSeq}`, { cache: 'no-store' });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const st = await resp.json();
    seen.nowMs = st.broker.now_ms;
    const readersOf = readers(st.groups);
    drawTopics(st, readersOf);
    drawGroups(st);
    drawTransactions(st);
    drawEvents(st);
    setStatus('live', `live · broker ${st.broker.host}:${st.broker.port} · updated ${clock(st.broker.now_ms)}`);
  } catch (e) {
    setStatus('down', `cannot reach the broker (${e.message}); retrying…`);
  }
  setTimeout(poll, POLL_MS);
}

poll();
