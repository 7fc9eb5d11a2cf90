// nodes.js -- the cluster sidebar (#nodes): one row per member with its
// status, hints held, sparklines of ops/s and p99 (from the stream's
// "stats"), and Kill / Revive / Remove; under it, Add node from the
// spares (#spare-select, #add-node).
import * as store from './store.js';
import { $, el, say, svg, fill, fmtUs, nodeColor, byName } from './dom.js';

let actions;

export function init(a) {
  actions = a;
  store.on('cluster', render);
  store.on('history', render);
  store.on('conn', render);
  $('#add-node').addEventListener('click', addNode);
}

// Nodes this page killed (DYNAMO.KILL answered ok): a killed node drops
// all peer traffic, so no other node can report it killed; the others
// only see it go suspect, then down.  Forgotten when it is revived, when
// its kill runs out, or when gossip sees it up again after it went down.
const killedHere = new Map();   // name -> {until (ms), wasDown}

// The status a person should read: "killed" beats what gossip says.
export function statusOf(st, name) {
  const s = st.stats && st.stats.nodes && st.stats.nodes[name];
  const info = st.cluster && st.cluster.nodes && st.cluster.nodes[name];
  let status = s && s.status;
  if (!status) {
    const m = ((st.cluster && st.cluster.members) || []).find((x) => x.name === name);
    status = m ? m.status : 'unknown';
  }
  if (status === 'self') status = 'up';
  if ((s && s.killed) || (info && info.answered && info.dynamo && Number(info.dynamo.killed))) return 'killed';
  const k = killedHere.get(name);
  if (k) {
    if (status !== 'up') k.wasDown = true;
    if (Date.now() > k.until || (k.wasDown && status === 'up')) killedHere.delete(name);
    else return 'killed';
  }
  return status;
}

// The hints a node holds per owner ({n5: 3}), from the same sources.
export function hintOwnersOf(st, name) {
  const s = st.stats && st.stats.nodes && st.stats.nodes[name];
  if (s && s.hints_by_owner) return s.hints_by_owner;
  const info = st.cluster && st.cluster.nodes && st.cluster.nodes[name];
  return (info && info.hints_by_owner) || {};
}

export function hintsOf(st, name) {
  const s = st.stats && st.stats.nodes && st.stats.nodes[name];
  if (s && s.hints_held !== undefined) return Number(s.hints_held) || 0;
  const info = st.cluster && st.cluster.nodes && st.cluster.nodes[name];
  return info ? Number(info.hints_held) || 0 : 0;
}

function spark(values, cls, w, h) {
  if (!values || values.length < 2) return null;
  const max = Math.max(...values, 1);
  const step = w / (values.length - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
  return svg('polyline', { class: cls, points: pts.join(' ') });
}

function row(st, m) {
  const name = m.name;
  const status = statusOf(st, name);
  const hist = st.history[name] || { ops: [], p99: [] };
  const s = st.stats && st.stats.nodes && st.stats.nodes[name];
  const W = 110, H = 26;
  const lastOps = hist.ops.length ? hist.ops[hist.ops.length - 1] : null;
  const lastP99 = hist.p99.length ? hist.p99[hist.p99.length - 1] : null;
  const serving = st.conn.node === name;
  const btn = (action, label, title) => el('button', {
    type: 'button', 'data-action': action, title,
    on: { click: () => act(action, name) },
  }, label);
  return el('div', { class: `node-row status-${status}${serving ? ' serving' : ''}`, 'data-node': name },
    el('div', { class: 'node-head' },
      el('span', { class: 'swatch' }, svg('svg', { width: 10, height: 10, class: 'swatch-svg' },
        svg('circle', { cx: 5, cy: 5, r: 5, fill: nodeColor(name) }))),
      el('span', { class: 'node-name' }, name),
      serving ? el('span', { class: 'tag', title: 'this page talks to this node' }, 'serving') : null,
      el('span', { class: `status ${status}` }, status),
      el('span', { class: 'hints-label', title: 'hints this node holds for others' }, 'hints ',
        el('span', { class: 'hints' }, String(hintsOf(st, name))))),
    el('div', { class: 'node-addr' }, m.addr || '', s && s.http ? `  ·  http ${s.http}` : ''),
    el('div', { class: 'node-spark' },
      svg('svg', { class: 'spark', width: W, height: H, viewBox: `0 0 ${W} ${H}` },
        spark(hist.ops, 'spark-ops', W, H), spark(hist.p99, 'spark-p99', W, H)),
      el('span', { class: 'spark-text' },
        lastOps === null ? 'no stats yet' : `${lastOps} op/s`,
        lastP99 === null ? '' : ` · p99 ${fmtUs(lastP99)}`)),
    el('div', { class: 'node-actions' },
      btn('kill', 'Kill', 'DYNAMO.KILL: the node stops answering (a simulated crash)'),
      btn('revive', 'Revive', 'DYNAMO.REVIVE: it answers again'),
      btn('remove', 'Remove', 'the node leaves the ring (a down node is forgotten)')));
}

function render(st) {
  const box = $('#nodes');
  const members = ((st.cluster && st.cluster.members) || []).slice()
    .filter((m) => m.status !== 'removed')
    .sort((a, b) => byName(a.name, b.name));
  if (!members.length) {
    fill(box, el('p', { class: 'muted' }, st.cluster ? 'not in a cluster' : 'loading…'));
  } else {
    fill(box, members.map((m) => row(st, m)));
  }
  const sel = $('#spare-select');
  const spares = (st.cluster && st.cluster.spares) || [];
  const keep = sel.value;
  fill(sel, spares.length
    ? spares.map((s) => el('option', { value: s.addr }, `${s.name ? `${s.name} ` : ''}${s.addr}`))
    : [el('option', { value: '' }, st.cluster && st.cluster.spares ? 'no spare nodes' : 'spares not available')]);
  if (spares.some((s) => s.addr === keep)) sel.value = keep;
  sel.disabled = !spares.length;
  $('#add-node').disabled = !spares.length;
}

async function act(action, name) {
  const id = encodeURIComponent(name);
  let r;
  if (action === 'kill') r = await actions.request('POST', `/api/nodes/${id}/kill`, {});
  else if (action === 'revive') r = await actions.request('POST', `/api/nodes/${id}/revive`, {});
  else r = await actions.request('DELETE', `/api/nodes/${id}`);
  if (r.ok && action === 'kill') killedHere.set(name, { until: Infinity, wasDown: false });
  if (r.ok && action === 'revive') killedHere.delete(name);
  say('#nodes-msg', r.ok ? `${action} ${name}: done` : `${action} ${name}: ${(r.data && r.data.error) || r.status}`, !r.ok);
  actions.refresh('cluster', 'ring', 'gossip');
}

async function addNode() {
  const addr = $('#spare-select').value;
  if (!addr) return;
  const r = await actions.request('POST', '/api/nodes', { addr });
  say('#nodes-msg', r.ok ? `adding ${addr}: it joins and partitions stream to it` : `add ${addr}: ${(r.data && r.data.error) || r.status}`, !r.ok);
  actions.refresh('cluster', 'ring', 'gossip');
}
