// config.js -- N, R, W (#cfg-n, #cfg-r, #cfg-w), live from the stream's
// stats (or /api/cluster/config), changed with #cfg-apply (POST
// /api/cluster/config), and what they mean (#cfg-overlap): whether every
// read quorum meets every write quorum (R+W>N).
import * as store from './store.js';
import { $, el, fill, say } from './dom.js';

let actions;

export function init(a) {
  actions = a;
  store.on('config', render);
  store.on('cluster', (st) => {
    if (!st.config && st.cluster && st.cluster.n !== undefined) {
      store.set({ config: { n: st.cluster.n, r: st.cluster.r, w: st.cluster.w } });
    }
  });
  $('#cfg-apply').addEventListener('click', apply);
  for (const id of ['#cfg-n', '#cfg-r', '#cfg-w']) {
    $(id).addEventListener('input', () => explain(values()));
  }
}

function values() {
  return { n: Number($('#cfg-n').value), r: Number($('#cfg-r').value), w: Number($('#cfg-w').value) };
}

function render(st) {
  const c = st.config;
  if (!c) return;
  for (const k of ['n', 'r', 'w']) {
    const input = $(`#cfg-${k}`);
    if (document.activeElement !== input) input.value = c[k];
  }
  explain(values());
}

function explain({ n, r, w }) {
  const box = $('#cfg-overlap');
  if (!(n > 0 && r > 0 && w > 0)) {
    fill(box, 'N, R and W are whole numbers of at least 1.');
    return;
  }
  const parts = [];
  if (r + w > n) {
    parts.push(el('b', { class: 'good' }, `R+W>N (${r}+${w} > ${n})`),
      `: every read quorum of ${r} meets every write quorum of ${w} in at least ${r + w - n} of the ${n} replicas, `
      + 'so a read sees the latest acknowledged write (while no stand-ins are involved: sloppy quorums can miss it).');
  } else {
    parts.push(el('b', { class: 'bad' }, `R+W<=N (${r}+${w} ≤ ${n})`),
      ': a read quorum and a write quorum may not share a replica, so a read can miss the latest write '
      + '(eventual consistency: anti-entropy and read repair catch it up).');
  }
  if (w > n || r > n) parts.push(el('div', { class: 'bad' }, 'R and W must not exceed N.'));
  fill(box, parts);
}

async function apply() {
  const v = values();
  const r = await actions.request('POST', '/api/cluster/config', v);
  say('#cfg-msg', r.ok ? `applied: N=${r.data.n} R=${r.data.r} W=${r.data.w}` : `refused: ${(r.data && r.data.error) || r.status}`, !r.ok);
  if (r.ok) store.set({ config: { n: r.data.n, r: r.data.r, w: r.data.w } });
}
