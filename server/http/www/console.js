// console.js -- the operations console: GET / PUT / DELETE of a key with
// an optional context, through a chosen coordinator (#op-via: the member
// whose API takes the request; it may forward to a replica), the answer
// (#op-result: values, siblings, versions) and the operation's trace
// step by step (#trace): who coordinated, whether it was forwarded, the
// preference list with each replica's status, who was asked and who
// answered with which version and how fast, stand-ins and their hints,
// when R or W was reached, and read repairs.
import * as store from './store.js';
import { $, el, fill, fmtUs, fmtTime, byName } from './dom.js';

let actions;
let viaChosen = false;       // the user picked a coordinator: keep it

export function init(a) {
  actions = a;
  $('#op-get').addEventListener('click', () => run('GET'));
  $('#op-put').addEventListener('click', () => run('PUT'));
  $('#op-del').addEventListener('click', () => run('DELETE'));
  $('#op-key').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') run('GET'); });
  $('#op-via').addEventListener('change', () => { viaChosen = true; });
  store.on('cluster', renderVia);
  store.on('conn', renderVia);
  store.on('op', renderResult);
  store.on('traces', renderRecent);
}

function renderVia(st) {
  const sel = $('#op-via');
  const members = ((st.cluster && st.cluster.members) || [])
    .filter((m) => !['removed', 'left'].includes(m.status))
    .map((m) => m.name).sort(byName);
  const keep = sel.value;
  fill(sel, members.map((n) => el('option', { value: n },
    n === st.conn.node ? `${n} (serving)` : n)));
  if (viaChosen && members.includes(keep)) sel.value = keep;
  else if (members.includes(st.conn.node)) sel.value = st.conn.node;
}

function say(text) {
  fill($('#op-result'), el('p', { class: 'bad' }, text));
}

async function run(method) {
  const key = $('#op-key').value;
  if (!key) {
    say('Enter a key first.');
    return;
  }
  const st = store.get();
  const via = $('#op-via').value;
  const viaArg = via && via !== st.conn.node ? via : null;
  const ctx = $('#op-context').value.trim();
  let body;
  if (method === 'PUT') {
    body = { value: $('#op-value').value };
    if (ctx) body.context = ctx;
  } else if (method === 'DELETE' && ctx) {
    body = { context: ctx };
  }
  const t0 = performance.now();
  const r = await actions.request(method, `/api/data/${encodeURIComponent(key)}`, body, viaArg);
  const ms = performance.now() - t0;
  if (method === 'GET' && r.data && typeof r.data.context === 'string') {
    $('#op-context').value = r.data.context;
  }
  store.set({ op: { method, key, via: via || st.conn.node, status: r.status, data: r.data, ms } });
  actions.selectKey(key);
}

function renderResult(st) {
  const op = st.op;
  const box = $('#op-result');
  if (!op) return;
  const d = op.data || {};
  const head = el('p', { class: 'op-head' },
    el('b', null, `${op.method} `), el('code', null, op.key), ` via ${op.via} → `,
    el('span', { class: op.status >= 200 && op.status < 300 ? 'good' : 'bad' },
      op.status === 0 ? 'no answer' : `${op.status}`),
    ` in ${op.ms.toFixed(1)} ms`);
  const parts = [head];
  if (d.error && !(op.status === 404 && d.context !== undefined)) {
    parts.push(el('p', { class: 'bad' }, d.error));
  }
  const values = d.values || [];
  if (op.status === 404 && d.context !== undefined) parts.push(el('p', { class: 'muted' }, 'no live value (not found, or deleted)'));
  if (values.length > 1) {
    parts.push(el('p', { class: 'conflict-note' },
      `${values.length} siblings: concurrent versions that no clock orders. `
      + 'A GET returns them all with a context covering them; a PUT with that context resolves them.'));
  }
  if (values.length) {
    const types = liveTypes(d.versions || []);
    parts.push(el('div', { class: 'values' }, values.map((v, i) => el('span', { class: 'value', title: `value ${i + 1}` }, valueText(v, types[i])))));
  }
  if (d.versions && d.versions.length) {
    parts.push(el('table', { class: 'versions' },
      el('tr', null, el('th', null, 'dot'), el('th', null, 'clock'), el('th', null, 'size'), el('th', null, '')),
      d.versions.map((v) => el('tr', { class: v.tombstone ? 'tomb' : '' },
        el('td', null, el('code', null, v.dot || '')),
        el('td', null, el('code', null, v.clock || '')),
        el('td', null, String(v.size)),
        el('td', null, [v.type || '', Number(v.tombstone) ? 'tombstone' : Number(v.winner) ? 'winner (LWW)' : ''].filter(Boolean).join(', '))))));
  }
  if (d.context) parts.push(el('p', { class: 'ctx' }, 'context ', el('code', null, d.context)));
  fill(box, parts);
  renderTrace(d.trace || null);
}

// The types of the live versions in the order DYNAMO.GET lists their
// values: the winner first, then by dot (the versions come by dot).
function liveTypes(versions) {
  const live = versions.filter((v) => !Number(v.tombstone));
  const win = live.filter((v) => Number(v.winner));
  return win.concat(live.filter((v) => !Number(v.winner))).map((v) => v.type || 'string');
}

// A value as a client reads it: a string as is; a typed value's items
// (DYNAMO.GET gives a set's members, a hash's fields and values, a sorted
// set's members and scores, a list's elements) under its type's name.
function valueText(v, type) {
  if (!Array.isArray(v)) return type === 'counter' ? `counter ${v}` : String(v);
  const pairs = [];
  if (type === 'hash' || type === 'zset') {
    for (let i = 0; i + 1 < v.length; i += 2) pairs.push(type === 'hash' ? `${v[i]}: ${v[i + 1]}` : `${v[i]} (${v[i + 1]})`);
    return `${type} {${pairs.join(', ')}}`;
  }
  if (type === 'list') return `list [${v.join(', ')}]`;
  return `${type} {${v.join(', ')}}`;
}

function replicaItem(r, reps, isRead, isWrite) {
  const cls = `trace-replica ${r.role === 'stand-in' ? 'standin' : 'owner'} ${r.status}`;
  const bits = [el('b', null, r.node), ` ${r.status}`];
  bits.push(el('span', { class: 'role' }, r.role === 'stand-in' ? ` stand-in for ${r.standin_for}` : ' owner'));
  if (Number(r.self)) bits.push(el('span', { class: 'muted' }, ' (coordinator)'));
  if (isRead && r.read !== '-') {
    bits.push(el('span', { class: `ans ${r.read}` },
      ` · read ${r.read === 'ok' ? 'answered' : r.read}${Number(r.read_us) ? ` in ${fmtUs(r.read_us)}` : ''}`));
    if (r.version) bits.push(el('span', { class: 'ver' }, ` · ${r.version}`));
  }
  if (isWrite && r.write !== '-') {
    bits.push(el('span', { class: `ans ${r.write}` },
      ` · write ${r.write === 'ok' ? 'acked' : r.write}${Number(r.write_us) ? ` in ${fmtUs(r.write_us)}` : ''}`));
  }
  if (r.read === '-' && r.write === '-') bits.push(el('span', { class: 'muted' }, ' · not asked'));
  // A stand-in keeps the write with a hint naming the owner it stood in
  // for; the trace marks the owner that missed the write (hint: 1).
  if (r.role === 'stand-in' && r.write === 'ok') {
    bits.push(el('span', { class: 'hint' }, `sloppy: holds a hint for ${r.standin_for || '?'}`));
  }
  if (Number(r.hint)) {
    const holder = reps.find((x) => x.role === 'stand-in' && x.standin_for === r.node);
    bits.push(el('span', { class: 'hint-kept' }, ` missed the write: a hint for it is kept${holder ? ` on ${holder.node}` : ''}`));
  }
  if (Number(r.repaired)) bits.push(el('span', { class: 'repaired' }, ' read-repaired'));
  return el('li', { class: cls, 'data-node': r.node }, bits);
}

function renderTrace(t) {
  const box = $('#trace');
  if (!t) {
    fill(box, el('li', { class: 'muted' }, 'No trace for this operation (the node keeps traces in a bounded ring: trace-max).'));
    return;
  }
  const reps = t.replicas || [];
  const isRead = reps.some((r) => r.read !== '-');
  const isWrite = reps.some((r) => r.write !== '-');
  const steps = [];
  const step = (title, ...body) => steps.push(el('li', { class: 'trace-step' },
    el('span', { class: 'step-no' }, String(steps.length + 1)), el('div', { class: 'step-body' }, el('div', { class: 'step-title' }, title), ...body)));
  step(el('span', null, `${t.op} `, el('code', null, t.key), ` at ${fmtTime(t.time_ms)}: coordinator `,
    el('b', { id: 'trace-coordinator' }, t.coordinator)),
  t.forwarded_from
    ? el('div', null, `forwarded: ${t.forwarded_from} took the request and sent it to ${t.coordinator}, a replica of the key`)
    : el('div', null, 'not forwarded: the node that took the request coordinated it'));
  const standins = reps.filter((r) => r.role === 'stand-in');
  step(`preference list (N=${t.n}, R=${t.r}, W=${t.w})${standins.length ? `: ${standins.length} stand-in(s) for owners that are down` : ''}`,
    el('ul', { class: 'replicas' }, reps.map((r) => replicaItem(r, reps, isRead, isWrite))));
  const answered = reps
    .flatMap((r) => [
      isRead && r.read !== '-' ? { n: r.node, what: 'read', st: r.read, us: Number(r.read_us) } : null,
      isWrite && r.write !== '-' ? { n: r.node, what: 'write', st: r.write, us: Number(r.write_us) } : null])
    .filter(Boolean).sort((a, b) => a.us - b.us);
  if (answered.length) {
    step(`asked ${new Set(answered.map((a) => a.n)).size} replicas; answers in order`,
      el('ol', { class: 'answers' }, answered.map((a) => el('li', { class: a.st },
        `${a.n}: ${a.what} ${a.st}${a.us ? ` at ${fmtUs(a.us)}` : ''}`))));
  }
  const quorum = [];
  if (isRead) {
    quorum.push(Number(t.read_quorum_us)
      ? `R=${t.r} reached after ${fmtUs(t.read_quorum_us)}` : `R=${t.r} not reached`);
  }
  if (isWrite) {
    quorum.push(Number(t.write_quorum_us)
      ? `W=${t.w} reached after ${fmtUs(t.write_quorum_us)}` : `W=${t.w} not reached`);
  }
  if (quorum.length) step(quorum.join('; '));
  const repaired = reps.filter((r) => Number(r.repaired));
  if (repaired.length) {
    step(`read repair: ${repaired.map((r) => r.node).join(', ')} ${repaired.length > 1 ? 'were' : 'was'} sent the newest version`);
  } else if (isRead) {
    step('no read repair needed: the replicas that answered agreed');
  }
  const hinted = reps.filter((r) => r.role === 'stand-in' && r.write === 'ok');
  if (hinted.length) {
    step(`hinted handoff: ${hinted.map((r) => `${r.node} keeps a hint for ${r.standin_for}`).join('; ')}; `
      + 'it hands the write over when the owner is back');
  }
  step(el('span', { class: t.outcome === 'ok' ? 'good' : 'bad' }, `outcome ${t.outcome}`), ` after ${fmtUs(t.done_us)}`);
  fill(box, steps);
}

function renderRecent(st) {
  const box = $('#trace-recent');
  // the operations a client asked for (the API's GET also reads the
  // clocks with DYNAMO.VCLOCK: not an operation of its own)
  const list = st.traces.filter((t) => !/vclock/i.test(t.op || '')).slice(0, 8);
  fill(box, list.length
    ? list.map((t) => el('button', {
      type: 'button', class: 'recent-trace', title: 'show this trace',
      on: { click: () => renderTrace(t) },
    }, `${t.op.replace('dynamo.', '')} ${t.key.length > 12 ? `${t.key.slice(0, 11)}…` : t.key} @${t.coordinator}${t.outcome === 'ok' ? '' : ` ${t.outcome}`}`))
    : el('span', { class: 'muted' }, st.avail.stream === false ? 'live traces need /api/stream (not available)' : 'none yet'));
}
