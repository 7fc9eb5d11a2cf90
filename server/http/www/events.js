// events.js -- the live event log (#events): every node's events
// (membership changes, sloppy writes, hints stored and delivered, read
// repairs, anti-entropy, siblings, faults...), newest first, from the
// stream (or /api/events without it).  #event-filter keeps the events
// whose type, node or fields contain its text (several words: all must
// match).
import * as store from './store.js';
import { $, el, fill, fmtTime } from './dom.js';

const SHOWN = 200;
const BASE_FIELDS = new Set(['id', 'time_ms', 'node', 'type']);

export function init() {
  store.on('events', render);
  $('#event-filter').addEventListener('input', () => render(store.get()));
}

function details(e) {
  return Object.entries(e).filter(([k]) => !BASE_FIELDS.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
}

function render(st) {
  const words = $('#event-filter').value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = [];
  for (const e of st.events) {
    const text = `${e.type} ${e.node} ${details(e)}`.toLowerCase();
    if (words.every((w) => text.includes(w))) shown.push(e);
    if (shown.length >= SHOWN) break;
  }
  fill($('#events'), shown.length
    ? shown.map((e) => el('li', { class: `event type-${e.type}`, 'data-type': e.type },
      el('span', { class: 'ev-time' }, fmtTime(e.time_ms)),
      el('span', { class: 'ev-node' }, e.node || ''),
      el('span', { class: 'ev-type' }, e.type),
      el('span', { class: 'ev-detail' }, details(e))))
    : el('li', { class: 'muted' }, st.events.length ? 'no event matches the filter' : 'no events yet'));
  $('#events-count').textContent = `${st.events.length} events${words.length ? `, ${shown.length} shown` : ''}`;
}
