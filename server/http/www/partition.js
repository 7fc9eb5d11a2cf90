// partition.js -- the network partition tool (#partition): put members in
// group A or B, then cut drops every message between the groups both ways
// (POST /api/faults {"from": A, "to": B, "both": true}); heal clears every
// fault (DELETE /api/faults).  The faults in force (/api/faults) are
// listed under the buttons.
import * as store from './store.js';
import { $, el, say, fill, byName } from './dom.js';

let actions;
const groups = {};          // name -> 'a' | 'b' (kept across renders)

export function init(a) {
  actions = a;
  store.on('cluster', render);
  store.on('faults', renderFaults);
  store.on('conn', renderFaults);
  $('#partition-cut').addEventListener('click', cut);
  $('#partition-heal').addEventListener('click', heal);
}

function render(st) {
  const names = ((st.cluster && st.cluster.members) || [])
    .filter((m) => !['removed', 'left'].includes(m.status)).map((m) => m.name).sort(byName);
  const box = $('#partition-groups');
  const box2 = (g, n) => {
    const input = el('input', { type: 'checkbox', 'data-group': g, 'data-node': n, id: `pg-${g}-${n}` });
    input.checked = groups[n] === g;
    input.addEventListener('change', () => {
      if (input.checked) groups[n] = g;
      else if (groups[n] === g) delete groups[n];
      render(store.get());
    });
    return el('label', { for: `pg-${g}-${n}`, class: 'pg' }, input, n);
  };
  fill(box,
    el('div', { class: 'pg-col' }, el('div', { class: 'pg-title' }, 'group A'), names.map((n) => box2('a', n))),
    el('div', { class: 'pg-col' }, el('div', { class: 'pg-title' }, 'group B'), names.map((n) => box2('b', n))));
}

async function cut() {
  const a = Object.keys(groups).filter((n) => groups[n] === 'a').sort(byName);
  const b = Object.keys(groups).filter((n) => groups[n] === 'b').sort(byName);
  if (!a.length || !b.length) {
    say('#partition-msg', 'Put at least one node in each group.', true);
    return;
  }
  const r = await actions.request('POST', '/api/faults', { from: a, to: b, both: true });
  say('#partition-msg', r.ok ? `cut: ${a.join(',')} ✕ ${b.join(',')} (both ways)` : `cut refused: ${(r.data && r.data.error) || r.status}`, !r.ok);
  actions.refresh('faults', 'gossip', 'cluster');
}

async function heal() {
  const r = await actions.request('DELETE', '/api/faults');
  say('#partition-msg', r.ok ? 'healed: every fault cleared' : `heal failed: ${(r.data && r.data.error) || r.status}`, !r.ok);
  actions.refresh('faults', 'gossip', 'cluster');
}

function renderFaults(st) {
  const list = (st.faults && st.faults.faults) || [];
  const me = st.conn.node || 'this node';
  // DYNAMO.FAULT LIST rows: [peer, "drop-to" | "", "drop-from" | "", delay_ms]
  const text = (f) => {
    if (!Array.isArray(f)) return JSON.stringify(f);
    const [peer, to, from, delay] = f;
    const what = [to ? `drops what it sends to ${peer}` : '', from ? `drops what ${peer} sends` : '',
      Number(delay) ? `delays ${peer} by ${delay} ms` : ''].filter(Boolean);
    return `${me} ${what.join(', ') || `has a fault entry for ${peer}`}`;
  };
  fill($('#faults-list'), list.length
    ? list.map((f) => el('li', null, text(f)))
    : el('li', { class: 'muted' }, 'no faults: every link delivers'));
}
