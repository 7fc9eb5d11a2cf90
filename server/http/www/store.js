// store.js -- the page's one store.  State flows one way: the event
// stream and the API's answers go in here (set), and panels render from
// it (on).  A key of the state is also the topic its listeners hear:
// set({ring: r}) calls every on('ring', fn) with the whole state.
//
// Keys: conn (connection: {state: 'connecting'|'ok'|'lost'|'login',
// node, base, note}), cluster (/api/cluster), stats (the stream's last
// "stats"), history ({node: {ops: [], p99: [], hints: []}}), ring
// (/api/ring), config ({n, r, w}), key (the console's key: {key, info}
// from /api/ring/key), op (the console's last answer), versions
// (/api/versions/:key), merkle, merkleDetail, gossip, faults, events
// (newest first), traces (newest first), avail ({merkle: false, ...}:
// endpoints that answered 404).

export const HISTORY_LEN = 60;     // samples per sparkline (one per stats)
export const EVENTS_MAX = 400;     // events kept for #events
export const TRACES_MAX = 50;

const state = {
  conn: { state: 'connecting', node: '', base: '', note: '' },
  cluster: null,
  stats: null,
  history: {},
  ring: null,
  config: null,
  key: null,
  op: null,
  versions: null,
  merkle: null,
  merkleDetail: null,
  gossip: null,
  faults: null,
  events: [],
  traces: [],
  avail: {},
};

const listeners = new Map();

export function get() {
  return state;
}

export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, []);
  listeners.get(topic).push(fn);
}

// Merges patch into the state, then tells each patched topic's listeners.
// A listener that throws is reported and does not stop the others.
export function set(patch) {
  Object.assign(state, patch);
  for (const topic of Object.keys(patch)) {
    for (const fn of listeners.get(topic) || []) {
      try {
        fn(state);
      } catch (e) {
        reportError(e);
      }
    }
  }
}

export function setAvail(name, yes) {
  if (state.avail[name] === yes) return;
  set({ avail: { ...state.avail, [name]: yes } });
}

// Appends one stats sample per node to the sparkline history.
export function recordStats(stats) {
  const h = { ...state.history };
  for (const [name, s] of Object.entries(stats.nodes || {})) {
    const old = h[name] || { ops: [], p99: [], hints: [] };
    const push = (arr, v) => arr.concat([Number(v) || 0]).slice(-HISTORY_LEN);
    h[name] = {
      ops: push(old.ops, s.ops_per_sec),
      p99: push(old.p99, s.p99_us),
      hints: push(old.hints, s.hints_held),
    };
  }
  set({ stats, history: h });
}

export function addEvents(list) {
  if (!list.length) return;
  const seen = new Set(state.events.map((e) => `${e.node}:${e.id}`));
  const fresh = list.filter((e) => !seen.has(`${e.node}:${e.id}`));
  if (!fresh.length) return;
  fresh.sort((a, b) => (b.time_ms || 0) - (a.time_ms || 0));
  const events = fresh.concat(state.events)
    .sort((a, b) => (b.time_ms || 0) - (a.time_ms || 0))
    .slice(0, EVENTS_MAX);
  set({ events });
}

export function addTrace(t) {
  set({ traces: [t].concat(state.traces).slice(0, TRACES_MAX) });
}

// A panel's error is shown in #page-error and logged (console.error: it
// is a bug, and the browser test must see it), and the other panels go
// on rendering.
export function reportError(e) {
  console.error(e);
  const box = document.getElementById('page-error');
  if (box) {
    box.textContent = `page error: ${e && e.message ? e.message : e}`;
    box.hidden = false;
  }
}
