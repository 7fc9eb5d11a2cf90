// timeline.js -- the vector clock timeline (svg#timeline) of the
// console's key: its versions as a DAG from /api/versions/:key, oldest on
// the left, one lane per actor (the node whose counter the version's dot
// advanced).  An .edge joins a version to each one it supersedes; the
// live versions are ringed, and when more than one is live they are
// concurrent: .conflict.  A version that supersedes several (a
// resolution) points back at all the siblings it replaced.
//
// #conflict-btn makes a conflict on purpose: a GET for a context, then two
// PUTs with that same context through two different coordinators (the
// key's first two replicas, so neither forwards), so neither write saw
// the other.  #resolve-btn writes #resolve-value with the context of a
// fresh GET, which covers every sibling.
import * as store from './store.js';
import { $, el, say, svg, fill, nodeColor, fmtTime, byName } from './dom.js';

const DX = 96, LANE = 58, PAD_X = 70, PAD_Y = 34;

let actions;

export function init(a) {
  actions = a;
  store.on('versions', render);
  store.on('avail', render);
  store.on('op', render);
  $('#conflict-btn').addEventListener('click', makeConflict);
  $('#resolve-btn').addEventListener('click', resolve);
}

function consoleKey() {
  const st = store.get();
  return $('#op-key').value || (st.key && st.key.key) || '';
}

// The versions to draw: the endpoint's history, or, without it, the live
// siblings of the console's last answer (no edges: no history).
function model(st) {
  if (st.avail.versions !== false && st.versions) {
    return { key: st.versions.key, versions: st.versions.versions || [], live: st.versions.live || [], history: true };
  }
  const op = st.op;
  if (!op || !op.data || !op.data.versions) return null;
  const vs = op.data.versions.map((v) => ({
    dot: v.dot, clock: v.clock, actor: String(v.dot || '').split(':')[0], time_ms: v.ts,
    op: v.tombstone ? 'delete' : 'put', value: '', size: v.size, supersedes: [],
  }));
  return { key: op.key, versions: vs, live: vs.map((v) => v.dot), history: false };
}

function historyNote(m, v) {
  const via = v && v.via ? `, read via ${v.via}` : '';
  if (v && v.bound === 0) {
    return `${m.versions.length} live versions of "${m.key}"${via}: the nodes keep no history ` +
      '(version-history 0, the default; tools/dynamo-cluster sets 16)';
  }
  const bound = v && v.bound ? `, at most ${v.bound} kept per node` : '';
  return `${m.versions.length} versions of "${m.key}" (oldest left)${via}${bound}`;
}

function render(st) {
  const root = $('#timeline');
  const m = model(st);
  const note = $('#timeline-note');
  if (!m || !m.versions.length) {
    root.setAttribute('viewBox', '0 0 600 60');
    root.setAttribute('width', 600);
    root.setAttribute('height', 60);
    fill(root, svg('text', { x: 12, y: 34, class: 'muted-text' },
      !m ? 'Run an operation on a key to see its versions.'
        : st.versions && st.versions.error ? `the version history of ${m.key} could not be read: ${st.versions.error}`
          : `no versions of ${m.key} recorded`));
    note.textContent = st.avail.versions === false ? 'version history not available on this node (/api/versions): showing the live siblings of the last answer' : '';
    return;
  }
  note.textContent = m.history ? historyNote(m, st.versions)
    : 'version history not available on this node (/api/versions): showing the live siblings of the last answer';
  const actors = [...new Set(m.versions.map((v) => v.actor || String(v.dot).split(':')[0]))].sort(byName);
  const live = new Set(m.live);
  const conflict = live.size > 1;
  const pos = new Map();
  m.versions.forEach((v, i) => {
    const lane = actors.indexOf(v.actor || String(v.dot).split(':')[0]);
    pos.set(v.dot, { x: PAD_X + i * DX, y: PAD_Y + lane * LANE });
  });
  const W = PAD_X + Math.max(1, m.versions.length) * DX + 20;
  const H = PAD_Y + actors.length * LANE + 10;
  root.setAttribute('viewBox', `0 0 ${W} ${H}`);
  root.setAttribute('width', W);
  root.setAttribute('height', H);
  const defs = svg('defs', null,
    svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' })));
  const lanes = actors.map((a, i) => svg('g', { class: 'lane' },
    svg('line', { x1: PAD_X - 30, x2: W - 10, y1: PAD_Y + i * LANE, y2: PAD_Y + i * LANE, class: 'lane-line' }),
    svg('text', { x: 8, y: PAD_Y + i * LANE + 4, class: 'lane-label', fill: nodeColor(a) }, a)));
  const edges = [];
  for (const v of m.versions) {
    const to = pos.get(v.dot);
    for (const s of v.supersedes || []) {
      const from = pos.get(s);
      if (!from) continue;
      // stop short of the circles
      const dx = to.x - from.x, dy = to.y - from.y, len = Math.hypot(dx, dy) || 1;
      edges.push(svg('line', {
        class: `edge${(v.supersedes || []).length > 1 ? ' merge' : ''}`, 'data-from': s, 'data-to': v.dot,
        x1: (from.x + dx / len * 13).toFixed(1), y1: (from.y + dy / len * 13).toFixed(1),
        x2: (to.x - dx / len * 14).toFixed(1), y2: (to.y - dy / len * 14).toFixed(1), 'marker-end': 'url(#arrow)',
      }));
    }
  }
  const nodes = m.versions.map((v) => {
    const p = pos.get(v.dot);
    const cls = ['version'];
    if (live.has(v.dot)) cls.push('live');
    if (conflict && live.has(v.dot)) cls.push('conflict');
    if ((v.supersedes || []).length > 1) cls.push('resolution');
    if (v.op === 'delete') cls.push('tombstone');
    if (v.recorded === false) cls.push('unrecorded');   // live, but in no node's history
    const label = v.op === 'delete' ? '(deleted)' : (v.value || '');
    return svg('g', { class: cls.join(' '), 'data-dot': v.dot },
      svg('circle', { cx: p.x, cy: p.y, r: 11, fill: nodeColor(v.actor || String(v.dot).split(':')[0]) }),
      svg('text', { x: p.x, y: p.y - 16, class: 'dot-label' }, v.dot),
      svg('text', { x: p.x, y: p.y + 25, class: 'val-label' }, label.length > 12 ? `${label.slice(0, 11)}…` : label),
      svg('title', null, `${v.dot} ${v.clock || ''}\n${v.op || 'put'} ${v.value ? `"${v.value}"` : ''} (${v.size ?? '?'} bytes)`
        + `${v.node ? `, recorded by ${v.node}` : ''}${v.time_ms ? ` at ${fmtTime(v.time_ms)}` : ''}`
        + `${(v.supersedes || []).length ? `\nsupersedes ${v.supersedes.join(', ')}` : ''}`
        + `${live.has(v.dot) ? (conflict ? '\nlive: a sibling (conflict)' : '\nlive: the current version') : ''}`));
  });
  fill(root, defs, ...lanes, ...edges, ...nodes);
  if (conflict) note.textContent += ` — ${live.size} concurrent live versions: a conflict (resolve it below)`;
  if (st.versions && st.versions.live_error) note.textContent += ` — live versions unknown: ${st.versions.live_error}`;
}

// The console's key, its path and a fresh GET's answer (whose context
// covers every version the replicas asked hold), or null (said why).
async function readKey() {
  const key = consoleKey();
  if (!key) {
    say('#timeline-msg', 'Enter a key in the console first.', true);
    return null;
  }
  const path = `/api/data/${encodeURIComponent(key)}`;
  const g = await actions.request('GET', path);
  if (!(g.ok || g.status === 404) || !g.data || typeof g.data.context !== 'string') {
    say('#timeline-msg', `GET ${key}: ${(g.data && g.data.error) || g.status}`, true);
    return null;
  }
  return { key, path, g };
}

async function makeConflict() {
  const read = await readKey();
  if (!read) return;
  const { key, path, g } = read;
  const ctx = g.data.context;
  const pl = await actions.request('GET', `/api/ring/key/${encodeURIComponent(key)}`);
  const st = store.get();
  const up = ((pl.ok && pl.data.replicas) || []).filter((r) => r.status === 'up' || r.status === 'self')
    .map((r) => r.name).filter((n) => actions.baseFor(n) !== null);
  const a = up[0] || st.conn.node, b = up.find((n) => n !== a) || a;
  const stamp = new Date().toISOString().slice(11, 19);
  const one = await actions.request('PUT', path, ctx ? { value: `left ${stamp}`, context: ctx } : { value: `left ${stamp}` }, a === st.conn.node ? null : a);
  const t1 = performance.now();
  const two = await actions.request('PUT', path, ctx ? { value: `right ${stamp}`, context: ctx } : { value: `right ${stamp}` }, b === st.conn.node ? null : b);
  // the console shows the second write's answer (its siblings, its trace)
  store.set({ op: { method: 'PUT', key, via: b, status: two.status, data: two.data, ms: performance.now() - t1 } });
  if (!one.ok || !two.ok) {
    say('#timeline-msg', `PUT failed: ${((one.ok ? two : one).data || {}).error || 'no answer'}`, true);
  } else {
    const n = (two.data.values || []).length;
    say('#timeline-msg', `two PUTs with the same context, via ${a} and ${b}: ${n} sibling${n === 1 ? '' : 's'} now`);
  }
  actions.selectKey(key);
}

async function resolve() {
  const read = await readKey();
  if (!read) return;
  const { key, path, g } = read;
  const value = $('#resolve-value').value || (g.data.values || []).join(' + ');
  const t0 = performance.now();
  const p = await actions.request('PUT', path, { value, context: g.data.context });
  store.set({ op: { method: 'PUT', key, via: store.get().conn.node, status: p.status, data: p.data, ms: performance.now() - t0 } });
  say('#timeline-msg', p.ok ? `wrote "${value}" with the context of all ${(g.data.values || []).length} siblings: they are superseded`
    : `PUT failed: ${(p.data && p.data.error) || p.status}`, !p.ok);
  actions.selectKey(key);
}
