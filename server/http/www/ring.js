// ring.js -- the hash ring (svg#ring): the ring's partitions as arcs
// coloured by owner, the members as markers around it, the keys the
// console has looked at as dots at their hash, and the selected key's
// preference list (.pref) and fallbacks (.fallback) joined to it.
//
// The ring changes in place: arcs and markers are kept across renders, so
// an arc that changes owner fades to its new colour (CSS transition, and
// .moved flashes it) and a marker slides to its new place (animated with
// requestAnimationFrame: no inline styles).
import * as store from './store.js';
import { $, el, svg, fill, nodeColor, byName } from './dom.js';
import { statusOf } from './nodes.js';

const SIZE = 440, C = SIZE / 2;
const R_OUT = 168, R_IN = 146, R_KEY = 132, R_NODE = 200;
const KEYS_SHOWN = 16;          // recent keys drawn as dots

let root, gArcs, gLinks, gKeys, gNodes, gCenter;
let arcs = [];                  // partition -> path
let markers = new Map();        // name -> {g, x, y}
let owners = [];                // partition -> owner at the last render
const recent = [];              // [{key, hash}] newest first

function polar(r, turn) {
  const a = turn * 2 * Math.PI - Math.PI / 2;
  return [C + r * Math.cos(a), C + r * Math.sin(a)];
}

function arcPath(t0, t1) {
  const [x0, y0] = polar(R_OUT, t0), [x1, y1] = polar(R_OUT, t1);
  const [x2, y2] = polar(R_IN, t1), [x3, y3] = polar(R_IN, t0);
  const large = t1 - t0 > 0.5 ? 1 : 0;
  const f = (n) => n.toFixed(2);
  return `M${f(x0)},${f(y0)} A${R_OUT},${R_OUT} 0 ${large} 1 ${f(x1)},${f(y1)} `
    + `L${f(x2)},${f(y2)} A${R_IN},${R_IN} 0 ${large} 0 ${f(x3)},${f(y3)} Z`;
}

// The key's place on the ring: its 64-bit hash as a fraction of a turn.
function turnOfHash(hash) {
  const hi = parseInt(String(hash).slice(0, 8), 16);
  const lo = parseInt(String(hash).slice(8, 16) || '0', 16);
  if (!Number.isFinite(hi)) return null;
  return (hi + (Number.isFinite(lo) ? lo : 0) / 4294967296) / 4294967296;
}

export function init(actions) {
  root = $('#ring');
  root.setAttribute('viewBox', `0 0 ${SIZE} ${SIZE}`);
  fill(root,
    gArcs = svg('g', { class: 'arcs' }),
    gLinks = svg('g', { class: 'links' }),
    gKeys = svg('g', { class: 'keys' }),
    gNodes = svg('g', { class: 'nodes' }),
    gCenter = svg('g', { class: 'center' }));
  store.on('ring', render);
  store.on('cluster', render);
  store.on('key', (st) => {
    const info = st.key && st.key.info;
    if (info && info.hash) {
      const i = recent.findIndex((k) => k.key === st.key.key);
      if (i >= 0) recent.splice(i, 1);
      recent.unshift({ key: st.key.key, hash: info.hash });
      recent.length = Math.min(recent.length, KEYS_SHOWN);
    }
    render(st);
  });
  root.addEventListener('click', (ev) => {
    const dot = ev.target.closest('[data-key]');
    if (dot) actions.selectKey(dot.getAttribute('data-key'));
  });
}

function moveMarker(m, x, y) {
  if (m.x === undefined) {
    m.x = x; m.y = y;
    m.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    return;
  }
  const x0 = m.x, y0 = m.y, t0 = performance.now(), dur = 700;
  m.x = x; m.y = y;
  const step = (now) => {
    const t = Math.min(1, (now - t0) / dur), e = t * (2 - t);
    m.g.setAttribute('transform',
      `translate(${(x0 + (x - x0) * e).toFixed(1)},${(y0 + (y - y0) * e).toFixed(1)})`);
    if (t < 1 && m.x === x && m.y === y) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function render(st) {
  const ring = st.ring;
  if (!ring || !ring.table) {
    fill(gCenter, svg('text', { x: C, y: C, class: 'ring-title' }, ring === null ? 'loading ring…' : 'no ring'));
    return;
  }
  const P = ring.partitions || ring.table.length;
  if (arcs.length !== P) {
    fill(gArcs);
    arcs = [];
    owners = [];
    for (let p = 0; p < P; p++) {
      const path = svg('path', { class: 'partition', 'data-partition': p, d: arcPath(p / P, (p + 1) / P) },
        svg('title', null, `partition ${p}`));
      gArcs.append(path);
      arcs.push(path);
    }
  }
  const byPart = [];
  for (const row of ring.table) byPart[row.partition] = row;
  for (let p = 0; p < P; p++) {
    const row = byPart[p];
    const owner = row ? row.owner : '';
    const a = arcs[p];
    a.setAttribute('fill', owner ? nodeColor(owner) : '#ddd');
    a.firstChild.textContent = `partition ${p}: ${row ? row.replicas.join(', ') : '?'}`;
    if (owners[p] !== undefined && owners[p] !== owner) {
      a.classList.remove('moved');
      a.getBoundingClientRect();   // restart the flash
      a.classList.add('moved');
    }
    owners[p] = owner;
  }
  // members: those the ring holds, and members not (yet) in it
  const names = new Set((ring.nodes || []).map((n) => n.name));
  for (const m of (st.cluster && st.cluster.members) || []) {
    if (!['removed', 'left'].includes(m.status)) names.add(m.name);
  }
  const list = [...names].sort(byName);
  const partsOf = {};
  for (const n of ring.nodes || []) partsOf[n.name] = n.partitions;
  const key = st.key && st.key.info;
  const pref = new Set(key ? (key.replicas || []).map((r) => r.name) : []);
  const fb = new Set(key ? (key.fallbacks || []).map((r) => r.name) : []);
  for (const [name, m] of markers) {
    if (!names.has(name)) {
      m.g.remove();
      markers.delete(name);
    }
  }
  list.forEach((name, i) => {
    let m = markers.get(name);
    if (!m) {
      const g = svg('g', { class: 'ring-node', 'data-node': name },
        svg('circle', { r: 15, fill: nodeColor(name) }),
        svg('text', { class: 'ring-node-label', y: 4 }, name),
        svg('title', null, name));
      gNodes.append(g);
      m = { g };
      markers.set(name, m);
    }
    const [x, y] = polar(R_NODE, i / list.length);
    moveMarker(m, x, y);
    const status = statusOf(st, name);
    m.g.setAttribute('class', `ring-node status-${status}${pref.has(name) ? ' pref' : ''}${fb.has(name) ? ' fallback' : ''}`);
    m.g.lastChild.textContent = `${name}: ${status}, ${partsOf[name] || 0} partitions`
      + (pref.has(name) ? ' (preference list of the selected key)' : '')
      + (fb.has(name) ? ' (fallback of the selected key)' : '');
  });
  // keys
  fill(gKeys);
  fill(gLinks);
  for (const a of arcs) a.classList.remove('key-part');
  for (const k of recent.slice().reverse()) {
    const t = turnOfHash(k.hash);
    if (t === null) continue;
    const [x, y] = polar(R_KEY, t);
    const selected = st.key && k.key === st.key.key;
    if (selected) {
      const [lx, ly] = polar(R_KEY - 26, t);
      const part = key ? key.partition : null;
      if (part !== null && arcs[part]) arcs[part].classList.add('key-part');
      for (const r of (key && key.replicas) || []) {
        const m = markers.get(r.name);
        if (m) gLinks.append(svg('line', { class: 'pref-line', x1: x.toFixed(1), y1: y.toFixed(1), x2: m.x.toFixed(1), y2: m.y.toFixed(1) }));
      }
      for (const r of (key && key.fallbacks) || []) {
        const m = markers.get(r.name);
        if (m) gLinks.append(svg('line', { class: 'fallback-line', x1: x.toFixed(1), y1: y.toFixed(1), x2: m.x.toFixed(1), y2: m.y.toFixed(1) }));
      }
      gKeys.append(svg('g', { class: 'key-marker', 'data-key': k.key },
        svg('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 6 }),
        svg('text', { class: 'key-label', x: lx.toFixed(1), y: (ly + 4).toFixed(1) }, k.key.length > 14 ? `${k.key.slice(0, 13)}…` : k.key),
        svg('title', null, `${k.key}: hash ${k.hash}, partition ${key ? key.partition : '?'}`)));
    } else {
      gKeys.append(svg('circle', { class: 'key-dot', 'data-key': k.key, cx: x.toFixed(1), cy: y.toFixed(1), r: 3.5 },
        svg('title', null, `${k.key} (click to select)`)));
    }
  }
  fill(gCenter,
    svg('text', { x: C, y: C - 30, class: 'ring-title' }, `epoch ${ring.epoch}`),
    svg('text', { x: C, y: C - 12, class: 'ring-sub' }, `${P} partitions, ${(ring.nodes || []).length} nodes`),
    key ? svg('text', { x: C, y: C + 20, class: 'ring-sub' }, `${st.key.key.length > 16 ? `${st.key.key.slice(0, 15)}…` : st.key.key} → partition ${key.partition}`) : null);
  const info = $('#ring-info');
  if (info) {
    fill(info, key
      ? [el('span', null, 'key '), el('b', null, st.key.key), el('span', null, ` hash ${key.hash} → partition ${key.partition}; preference list: `),
        ...(key.replicas || []).map((r) => el('span', { class: `chip ${r.status}` }, `${r.name} (${r.status})`)),
        (key.fallbacks || []).length ? el('span', null, ' fallbacks: ') : null,
        ...(key.fallbacks || []).map((r) => el('span', { class: `chip fb ${r.status}` }, `${r.name} (${r.status})`))]
      : [el('span', { class: 'muted' }, 'Run an operation in the console to place its key on the ring.')]);
  }
}
