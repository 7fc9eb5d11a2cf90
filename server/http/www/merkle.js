// merkle.js -- Merkle sync (#merkle): one cell per partition of the ring,
// in-sync when every replica's Merkle root agrees, divergent otherwise
// (/api/merkle); #merkle-summary counts the divergent ones.  Clicking a
// cell asks /api/merkle/:partition and draws its leaves in
// #merkle-detail with the differing ones marked.  Anti-entropy repairs
// (the stream's "ae-repair" events) flash their partition as they happen
// and are listed under the grid.
import * as store from './store.js';
import { $, el, svg, fill, fmtTime } from './dom.js';

const COLS = 32, CELL = 14, GAP = 2;
const REPAIRS_SHOWN = 6;

let actions;
let selected = null;
let lastRepairSeen = 0;
const flashing = new Map();     // partition -> until (ms)

export function init(a) {
  actions = a;
  store.on('merkle', render);
  store.on('ring', render);
  store.on('avail', render);
  store.on('merkleDetail', renderDetail);
  store.on('events', onEvents);
  $('#merkle').addEventListener('click', (ev) => {
    const cell = ev.target.closest('[data-partition]');
    if (cell) openPartition(Number(cell.getAttribute('data-partition')));
  });
}

function partitionsOf(st) {
  if (st.ring && st.ring.partitions) return st.ring.partitions;
  return ((st.merkle && st.merkle.partitions) || []).length;
}

function render(st) {
  const box = $('#merkle');
  const sum = $('#merkle-summary');
  if (st.avail.merkle === false) {
    fill(sum, 'Merkle view not available on this node (/api/merkle)');
    fill(box);
    return;
  }
  if (!st.merkle) {
    fill(sum, 'loading Merkle roots…');
    return;
  }
  const P = partitionsOf(st);
  const info = new Map();
  for (const p of st.merkle.partitions || []) info.set(Number(p.partition), p);
  const divergent = st.merkle.divergent !== undefined ? st.merkle.divergent
    : (st.merkle.partitions || []).filter((p) => !p.in_sync).length;
  const rows = Math.ceil(P / COLS);
  const W = COLS * (CELL + GAP), H = rows * (CELL + GAP);
  const now = Date.now();
  const cells = [];
  for (let p = 0; p < P; p++) {
    const x = (p % COLS) * (CELL + GAP), y = Math.floor(p / COLS) * (CELL + GAP);
    const row = info.get(p);
    const keys = row ? Math.max(0, ...(row.replicas || []).map((r) => Number(r.keys) || 0)) : 0;
    const cls = ['part', row && !row.in_sync ? 'divergent' : 'in-sync'];
    if (!row || keys === 0) cls.push('empty');
    if ((flashing.get(p) || 0) > now) cls.push('repairing');
    if (selected === p) cls.push('selected');
    cells.push(svg('rect', { class: cls.join(' '), 'data-partition': p, x, y, width: CELL, height: CELL, rx: 2 },
      svg('title', null, row
        ? `partition ${p}: ${row.in_sync ? 'in sync' : 'divergent'}; ${(row.replicas || []).map((r) => `${r.node} ${r.root || '—'} (${r.keys} keys)`).join(', ')}`
        : `partition ${p}: empty on every replica`)));
  }
  fill(box, svg('svg', { class: 'merkle-grid', width: W, height: H, viewBox: `0 0 ${W} ${H}` }, cells));
  const un = st.merkle.unanswered || [];
  fill(sum, el('b', { class: divergent ? 'bad' : 'good' }, `${divergent} divergent`),
    ` of ${P} partitions`, un.length ? ` (no answer from ${un.join(', ')})` : '',
    divergent ? ': anti-entropy compares their trees and repairs the differing keys' : ': every replica agrees');
  renderRepairs(st);
}

async function openPartition(p) {
  selected = p;
  render(store.get());
  fill($('#merkle-detail'), el('p', { class: 'muted' }, `partition ${p}: asking its replicas…`));
  const r = await actions.get(`/api/merkle/${p}`);
  if (actions.absent(r)) {
    fill($('#merkle-detail'), el('p', { class: 'muted' }, 'partition detail not available on this node'));
    return;
  }
  store.set({ merkleDetail: r.ok ? r.data : { partition: p, error: (r.data && r.data.error) || String(r.status) } });
}

function renderDetail(st) {
  const d = st.merkleDetail;
  const box = $('#merkle-detail');
  if (!d) return;
  if (d.error) {
    fill(box, el('p', { class: 'bad' }, `partition ${d.partition}: ${d.error}`));
    return;
  }
  const leaves = Number(d.leaves) || 0;
  const diff = new Set((d.differing_leaves || []).map(Number));
  const parts = [el('p', null, el('b', null, `partition ${d.partition}`),
    `: ${leaves} leaves, ${diff.size ? `${diff.size} differing` : 'none differing'}`)];
  parts.push(el('table', { class: 'merkle-replicas' },
    el('tr', null, el('th', null, 'replica'), el('th', null, 'root'), el('th', null, 'keys')),
    (d.replicas || []).map((r) => el('tr', null,
      el('td', null, r.node), el('td', null, el('code', null, r.root || '—')), el('td', null, String(r.keys))))));
  if (leaves > 0) {
    const per = 64, cw = 9;
    const rows = Math.ceil(leaves / per);
    const cells = [];
    for (let i = 0; i < leaves; i++) {
      cells.push(svg('rect', { class: `leaf${diff.has(i) ? ' differs' : ''}`, 'data-leaf': i,
        x: (i % per) * (cw + 1), y: Math.floor(i / per) * (cw + 1), width: cw, height: cw },
      svg('title', null, `leaf ${i}${diff.has(i) ? ': differs' : ''}`)));
    }
    const W = per * (cw + 1), H = rows * (cw + 1);
    parts.push(svg('svg', { class: 'leaves', viewBox: `0 0 ${W} ${H}`, width: W, height: H }, cells));
  }
  if (diff.size) parts.push(el('p', null, `differing leaves: ${[...diff].sort((a, b) => a - b).join(', ')}`));
  if ((d.unanswered || []).length) parts.push(el('p', { class: 'muted' }, `no answer from ${d.unanswered.join(', ')}`));
  fill(box, parts);
}

function onEvents(st) {
  let newest = lastRepairSeen;
  let any = false;
  for (const e of st.events) {
    if ((e.time_ms || 0) <= lastRepairSeen) break;   // newest first
    if (e.type === 'ae-repair' && e.partition !== undefined) {
      flashing.set(Number(e.partition), Date.now() + 2500);
      any = true;
    }
    newest = Math.max(newest, e.time_ms || 0);
  }
  lastRepairSeen = newest;
  if (any) {
    render(st);
    setTimeout(() => render(store.get()), 2600);
  } else {
    renderRepairs(st);
  }
}

function renderRepairs(st) {
  const list = st.events.filter((e) => e.type === 'ae-repair').slice(0, REPAIRS_SHOWN);
  fill($('#merkle-repairs'), list.length
    ? list.map((e) => el('li', null, `${fmtTime(e.time_ms)} `,
      el('b', null, e.node),
      ` ${e.direction || 'repaired'} ${e.keys ? `${e.keys} key(s)` : e.key ? `key ${e.key}` : ''} in partition ${e.partition}`))
    : el('li', { class: 'muted' }, 'no anti-entropy repairs yet'));
}
