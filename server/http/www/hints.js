// hints.js -- hint queues (#hints): per node the hints it holds for
// members that were down when a write needed them (a stand-in's sloppy
// write), as a count (.hint-count), a bar, its recent trend, and the
// queue per owner (.hint-owners: "for n5: 3").  When the
// owner comes back, hinted handoff delivers them and the queue drains:
// the trend falls to 0.  Counts come from the stream's stats (every
// second) or, without it, /api/cluster.
import * as store from './store.js';
import { $, el, svg, fill, nodeColor, byName } from './dom.js';
import { hintsOf, hintOwnersOf } from './nodes.js';

export function init() {
  store.on('cluster', render);
  store.on('history', render);
}

function ownersText(owners) {
  const list = Object.keys(owners).filter((o) => Number(owners[o]) > 0).sort(byName);
  return list.length ? `for ${list.map((o) => `${o}: ${owners[o]}`).join(', ')}` : '';
}

function render(st) {
  const box = $('#hints');
  const names = ((st.cluster && st.cluster.members) || [])
    .filter((m) => m.status !== 'removed').map((m) => m.name).sort(byName);
  if (!names.length) {
    fill(box, el('p', { class: 'muted' }, 'loading…'));
    return;
  }
  const counts = names.map((n) => hintsOf(st, n));
  const max = Math.max(1, ...counts);
  const W = 120, H = 10;
  fill(box, names.map((n, i) => {
    const trend = (st.history[n] && st.history[n].hints) || [];
    const prev = trend.length > 5 ? trend[trend.length - 6] : null;
    let state = '';
    if (counts[i] > 0 && prev !== null && counts[i] < prev) state = 'draining';
    else if (counts[i] > 0 && prev !== null && counts[i] > prev) state = 'growing';
    else if (counts[i] > 0) state = 'held';
    return el('div', { class: `hint-row ${state}`, 'data-node': n },
      el('span', { class: 'hint-node' }, n),
      svg('svg', { class: 'hint-bar', width: W, height: H, viewBox: `0 0 ${W} ${H}` },
        svg('rect', { class: 'hint-bar-bg', x: 0, y: 0, width: W, height: H, rx: 2 }),
        svg('rect', { x: 0, y: 0, width: (W * counts[i] / max).toFixed(1), height: H, rx: 2, fill: nodeColor(n) })),
      el('span', { class: 'hint-count' }, String(counts[i])),
      el('span', { class: 'hint-state' }, state),
      el('span', { class: 'hint-owners' }, ownersText(hintOwnersOf(st, n))));
  }));
}
