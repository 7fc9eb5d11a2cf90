// gossip.js -- the gossip matrix (#gossip): a row per viewer, a column per
// member it knows about; each cell (td[data-viewer][data-about]) says how
// long ago the viewer last heard the member's heartbeat advance, coloured
// by the status the viewer holds.  Under it: whether the views have
// converged (every viewer holds the same status for every member) and the
// latest gossip rounds with the news they carried.  Without /api/gossip
// the serving node's own view (from /api/cluster) is the only row.
import * as store from './store.js';
import { $, el, fill, fmtAge, fmtTime, byName } from './dom.js';

const ROUNDS_SHOWN = 8;

export function init() {
  store.on('gossip', render);
  store.on('cluster', render);
  store.on('avail', render);
}

function views(st) {
  if (st.avail.gossip !== false && st.gossip && st.gossip.nodes) {
    return { nodes: st.gossip.nodes, full: true };
  }
  if (!st.cluster || !st.cluster.members) return null;
  return {
    nodes: { [st.cluster.node]: { view: st.cluster.members, rounds: [] } },
    full: false,
  };
}

const norm = (s) => (s === 'self' ? 'up' : s);

function render(st) {
  const box = $('#gossip');
  const v = views(st);
  if (!v) {
    fill(box, el('p', { class: 'muted' }, 'loading…'));
    return;
  }
  const viewers = Object.keys(v.nodes).sort(byName);
  const about = new Set();
  for (const w of viewers) for (const e of v.nodes[w].view || []) about.add(e.name);
  const cols = [...about].sort(byName);
  const held = {};          // about -> Set(status)
  const table = el('table', { class: 'gossip-matrix' },
    el('tr', null, el('th', { class: 'corner' }, 'viewer ↓ / about →'), cols.map((c) => el('th', null, c))),
    viewers.map((w) => {
      const byAbout = {};
      for (const e of v.nodes[w].view || []) byAbout[e.name] = e;
      return el('tr', null, el('th', null, w), cols.map((c) => {
        const e = byAbout[c];
        if (!e) return el('td', { class: 'unknown', 'data-viewer': w, 'data-about': c }, '—');
        const s = norm(e.status);
        if (!held[c]) held[c] = new Set();
        held[c].add(s);
        return el('td', {
          class: `status-${s}${w === c ? ' self' : ''}`, 'data-viewer': w, 'data-about': c,
          title: `${w} sees ${c}: ${s}, incarnation ${e.incarnation}, heartbeat ${e.heartbeat}`,
        }, w === c ? 'self' : fmtAge(e.heartbeat_ms_ago));
      }));
    }));
  const split = cols.filter((c) => held[c] && held[c].size > 1);
  const un = (st.gossip && st.gossip.unanswered) || [];
  const summary = el('p', { id: 'gossip-summary' },
    !v.full ? el('span', { class: 'muted' }, 'gossip view of other nodes not available (/api/gossip): this node\'s view only. ')
      : split.length
        ? el('span', { class: 'bad' }, `not converged: views differ about ${split.join(', ')}`)
        : el('span', { class: 'good' }, `converged: all ${viewers.length} views agree on every member's status`),
    un.length ? ` (no answer from ${un.join(', ')})` : '');
  const rounds = viewers.flatMap((w) => (v.nodes[w].rounds || []).map((r) => ({ ...r, viewer: w })))
    .sort((a, b) => (b.time_ms || 0) - (a.time_ms || 0)).slice(0, ROUNDS_SHOWN);
  const list = rounds.length
    ? el('ul', { class: 'rounds' }, rounds.map((r) => el('li', null,
      `${fmtTime(r.time_ms)} ${r.viewer} ${r.dir === 'sent' ? '→' : '←'} ${r.peer}: ${r.entries} entries`,
      (r.news || []).length ? el('span', { class: 'news' }, ` ${r.news.join('; ')}`) : '')))
    : null;
  fill(box, table, summary, list);
}
