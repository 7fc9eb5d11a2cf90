// app.js -- starts the page: the connection to a node, the event stream,
// the slow refreshes, and the panels.
//
// Life of the page:
//   connect()   GET /api/cluster at the base (first the serving node,
//               relative URLs).  401: #login, and connect() again once a
//               password is given.
//   runStream() reads /api/stream ("stats" every second, "event",
//               "trace") into the store.  A node without the stream (404)
//               is polled instead: /api/cluster and /api/events every
//               POLL_MS.
//   tick()      once a second: the refreshes that are due.  Ring, gossip,
//               Merkle, faults and the cluster view are fetched every few
//               seconds, or sooner when an event says they changed (never
//               more than once a second each).  Panels never fetch on a
//               timer of their own.
//   lost()      the serving node stopped answering (the stream broke and
//               /api/cluster fails) or its stats say it is killed: #conn
//               says "reconnecting", and the page tries the other
//               members' http addresses until one answers, then uses it
//               as its base (cross-origin: members accept each other's
//               origins).
import * as store from './store.js';
import * as api from './api.js';
import { $ } from './dom.js';
import * as nodes from './nodes.js';
import * as ring from './ring.js';
import * as opsConsole from './console.js';
import * as config from './config.js';
import * as timeline from './timeline.js';
import * as merkle from './merkle.js';
import * as gossip from './gossip.js';
import * as hints from './hints.js';
import * as partition from './partition.js';
import * as events from './events.js';

const POLL_MS = 3000;              // without a stream: cluster and events
const EVERY = { cluster: 5000, ring: 10000, gossip: 5000, merkle: 10000, faults: 10000 };
const MIN_GAP_MS = 1000;           // an event-driven refresh: at most 1/s
const RETRY_MS = 2000;             // between rounds of trying members

const SOURCES = {
  cluster: '/api/cluster',
  ring: '/api/ring',
  gossip: '/api/gossip',
  merkle: '/api/merkle',
  faults: '/api/faults',
  config: '/api/cluster/config',
};

let generation = 0;                // bumped by every (re)connection
let streamCtl = null;
let streaming = false;
let eventsCursor = '0';
const lastAt = {};                 // source -> last fetch (ms)
const dueAt = {};                  // source -> wanted by (ms)
const inFlight = {};

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// "no such path" is the router's 404: the endpoint is not built on this
// node.  Other 404s (an unknown key, member or partition) are answers.
function absent(r) {
  return r.status === 404 && r.data && /no such path/.test(r.data.error || '');
}

async function fetchSource(name) {
  if (inFlight[name]) return;
  inFlight[name] = true;
  lastAt[name] = Date.now();
  delete dueAt[name];
  const gen = generation;
  try {
    const r = await api.get(SOURCES[name]);
    if (gen !== generation) return;
    if (absent(r)) {
      store.setAvail(name, false);
    } else if (r.ok) {
      store.setAvail(name, true);
      store.set({ [name]: r.data });
      if (name === 'cluster') adoptCluster(r.data);
    } else if (r.status === 0) {
      checkServing();
    }
  } finally {
    inFlight[name] = false;
  }
}

// Asks for a refresh soon (an event said the source changed).
function want(name) {
  if (store.get().avail[name] === false) return;   // not on this node
  if (!dueAt[name]) dueAt[name] = Math.max(Date.now(), (lastAt[name] || 0) + MIN_GAP_MS);
}

async function pollEvents() {
  const gen = generation;
  lastAt.events = Date.now();
  const r = await api.get(`/api/events?since=${encodeURIComponent(eventsCursor)}`);
  if (gen !== generation || !r.ok || !r.data) return;
  const list = r.data.events || [];
  if (r.data.cursor !== undefined) {
    eventsCursor = String(r.data.cursor);
  } else if (list.length) {
    eventsCursor = String(Math.max(...list.map((e) => Number(e.id) || 0)));
  }
  store.addEvents(list);
  for (const e of list) onEvent(e, false);
}

function tick() {
  const now = Date.now();
  if (store.get().conn.state !== 'ok') return;
  for (const name of Object.keys(SOURCES)) {
    if (name === 'config') continue;
    if (store.get().avail[name] === false) continue;
    const every = !streaming && name === 'cluster' ? POLL_MS : EVERY[name];
    if ((dueAt[name] && dueAt[name] <= now) || now - (lastAt[name] || 0) >= every) {
      fetchSource(name);
    }
  }
  if (!streaming && now - (lastAt.events || 0) >= POLL_MS) pollEvents();
  if (dueAt.versions && dueAt.versions <= now) {
    delete dueAt.versions;
    actions.loadVersions();
  }
}

// What an event means for the other views.
function onEvent(e, live) {
  switch (e.type) {
    case 'member': case 'join': case 'leave': case 'ring': case 'stream':
    case 'kill': case 'revive':
      want('cluster'); want('ring'); want('gossip');
      break;
    case 'gossip':
      want('gossip');
      break;
    case 'hint-stored': case 'hint-delivered': case 'sloppy-write':
      if (!live) want('cluster');
      break;
    case 'ae-repair': case 'ae-exchange': case 'read-repair':
      want('merkle');
      break;
    case 'fault':
      want('faults');
      break;
    default:
      break;
  }
  const k = store.get().key;
  if (k && e.key === k.key && /sibling|repair/.test(e.type || '')) {
    dueAt.versions = Date.now() + 300;
  }
}

function onStream(name, data) {
  if (name === 'stats') {
    store.recordStats(data);
    const st = store.get();
    const me = data.nodes && data.nodes[data.node];
    if (me && me.killed) {
      lost(`${data.node} was killed`);
      return;
    }
    if (st.ring && data.ring_epoch !== undefined && data.ring_epoch !== st.ring.epoch) want('ring');
    if (data.n !== undefined) {
      const c = st.config;
      if (!c || c.n !== data.n || c.r !== data.r || c.w !== data.w) {
        store.set({ config: { n: data.n, r: data.r, w: data.w } });
      }
    }
  } else if (name === 'event') {
    store.addEvents([data]);
    onEvent(data, true);
  } else if (name === 'trace') {
    store.addTrace(data);
    const k = store.get().key;
    if (k && data.key === k.key) dueAt.versions = Date.now() + 300;
  }
}

async function runStream(gen) {
  while (gen === generation) {
    streamCtl = new AbortController();
    const how = await api.stream(api.getBase(), (name, data) => {
      if (gen !== generation) return;
      if (!streaming) {
        streaming = true;       // the first message: the stream is live
        store.setAvail('stream', true);
      }
      onStream(name, data);
    }, streamCtl.signal);
    if (gen !== generation) return;
    streaming = false;
    if (how === 'absent') {
      store.setAvail('stream', false);
      return;                       // tick() polls instead
    }
    if (how === 'auth' || how === 'aborted') return;
    // ended: is the node still there?
    const r = await api.get('/api/cluster', { timeout: 3000 });
    if (gen !== generation) return;
    if (r.status === 0 || r.status >= 500) {
      lost(`${store.get().conn.node || 'the node'} stopped answering`);
      return;
    }
    await sleep(1000);
  }
}

let checking = false;
async function checkServing() {
  if (checking || store.get().conn.state !== 'ok') return;
  checking = true;
  const r = await api.get('/api/cluster', { timeout: 3000 });
  checking = false;
  if (r.status === 0) lost(`${store.get().conn.node || 'the node'} stopped answering`);
}

function killedIn(cluster) {
  const me = cluster && cluster.nodes && cluster.nodes[cluster.node];
  return !!(me && me.dynamo && Number(me.dynamo.killed));
}

// Keeps the members' http addresses (for "via" and for reconnecting).
const httpOf = {};
let homeNode = '';
function adoptCluster(c) {
  for (const [name, info] of Object.entries(c.nodes || {})) {
    if (info && info.http) httpOf[name] = info.http;
  }
  for (const s of c.spares || []) if (s && s.name && s.http) httpOf[s.name] = s.http;
  if (killedIn(c) && store.get().conn.state === 'ok') lost(`${c.node} was killed`);
}

function baseFor(name) {
  const st = store.get();
  if (name === st.conn.node) return api.getBase();
  if (name === homeNode) return '';
  const stats = st.stats && st.stats.nodes && st.stats.nodes[name];
  const http = (stats && stats.http) || httpOf[name];
  return http ? api.baseOf(http) : null;
}

async function start(base, gen) {
  api.setBase(base);
  const r = await api.get('/api/cluster');
  if (gen !== generation) return false;
  if (r.status === 401) {
    store.set({ conn: { ...store.get().conn, state: 'login' } });
    return true;
  }
  if (!r.ok || killedIn(r.data)) return false;
  if (!homeNode && base === '') homeNode = r.data.node;
  store.set({ avail: { cluster: true } });   // a new node: ask it afresh
  store.set({ cluster: r.data });
  adoptCluster(r.data);
  const prev = store.get().conn;
  store.set({
    conn: {
      state: 'ok', node: r.data.node, base,
      note: prev.state === 'lost' && prev.node && prev.node !== r.data.node
        ? `${prev.node} was lost` : '',
    },
  });
  lastAt.cluster = Date.now();
  for (const name of ['ring', 'config', 'gossip', 'merkle', 'faults']) fetchSource(name);
  eventsCursor = '0';
  pollEvents();
  const k = store.get().key;
  if (k) actions.selectKey(k.key);
  runStream(gen);
  return true;
}

async function connect() {
  const gen = ++generation;
  if (streamCtl) streamCtl.abort();
  streaming = false;
  store.set({ conn: { ...store.get().conn, state: 'connecting' } });
  if (!(await start(api.getBase(), gen)) && gen === generation) lost('no answer');
}

let losing = false;
async function lost(note) {
  if (losing) return;
  losing = true;
  const gen = ++generation;
  if (streamCtl) streamCtl.abort();
  streaming = false;
  const old = store.get().conn.node;
  store.set({ conn: { state: 'lost', node: old, base: api.getBase(), note } });
  try {
    while (gen === generation) {
      const st = store.get();
      const names = new Set(Object.keys(httpOf));
      if (homeNode) names.add(homeNode);
      const statusOf = {};
      for (const m of (st.cluster && st.cluster.members) || []) statusOf[m.name] = m.status;
      const order = [...names]
        .filter((n) => !['removed', 'left'].includes(statusOf[n]))
        .sort((a, b) => (a === old) - (b === old)
          || (statusOf[a] === 'down') - (statusOf[b] === 'down'));
      for (const name of order) {
        const b = name === homeNode ? '' : api.baseOf(httpOf[name]);
        if (gen !== generation) return;
        if (await start(b, gen)) return;
      }
      await sleep(RETRY_MS);
    }
  } finally {
    losing = false;
  }
}

// What panels may do: calls through the current base (or a chosen
// member's), and asking for refreshes.  Panels get this object at init.
const actions = {
  request(method, path, body, via) {
    const b = via ? baseFor(via) : api.getBase();
    if (b === null) {
      return Promise.resolve({ ok: false, status: 0, data: { error: `no http address known for ${via}` } });
    }
    return api.request(method, path, body, { base: b }).then((r) => {
      if (r.status === 0 && !via) checkServing();
      if (r.status === 503 && !via && /^KILLED/.test((r.data && r.data.error) || '')) {
        lost(`${store.get().conn.node} was killed`);
      }
      return r;
    });
  },
  get(path) {
    return actions.request('GET', path);
  },
  refresh(...names) {
    for (const n of names) {
      if (n === 'config') fetchSource('config');
      else want(n);
    }
  },
  baseFor,
  async selectKey(key) {
    if (!key) return;
    const r = await actions.get(`/api/ring/key/${encodeURIComponent(key)}`);
    if (r.ok) store.set({ key: { key, info: r.data } });
    else store.set({ key: { key, info: null } });
    await actions.loadVersions();
  },
  async loadVersions() {
    const k = store.get().key;
    if (!k || store.get().avail.versions === false) return;
    // read through the member that coordinated the key's last operation:
    // during a partition the serving node may reach replicas that side
    // cannot, and its quorum read would repair them (read repair) before
    // the Merkle view could show the divergence the operation left
    const st = store.get();
    const op = st.op;
    const via = op && op.key === k.key && op.via !== st.conn.node ? op.via : null;
    const path = `/api/versions/${encodeURIComponent(k.key)}`;
    let r = await actions.request('GET', path, undefined, via);
    if (via && r.status === 0) r = await actions.get(path);
    if (r.ok && r.data) r.data.via = via || st.conn.node;
    if (absent(r)) {
      store.setAvail('versions', false);
      store.set({ versions: null });
    } else {
      store.setAvail('versions', true);
      store.set({ versions: r.ok ? r.data : { key: k.key, versions: [], live: [], error: r.data && r.data.error } });
    }
  },
  absent,
};

function initLogin() {
  const form = $('#login');
  let tried = false;
  api.setAuthHook(() => {
    if (!form.hidden) return;
    $('#login-msg').textContent = tried ? 'That password was refused.' : '';
    tried = false;
    if (streamCtl) streamCtl.abort();
    generation++;
    store.set({ conn: { ...store.get().conn, state: 'login' } });
    form.hidden = false;
    $('#password').focus();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    api.setPassword($('#password').value);
    tried = true;
    $('#password').value = '';
    form.hidden = true;
    connect();
  });
}

function initConn() {
  store.on('conn', (st) => {
    const c = st.conn;
    const line = $('#conn');
    line.classList.toggle('lost', c.state === 'lost');
    line.classList.toggle('ok', c.state === 'ok');
    const where = c.base ? c.base.replace(/^https?:\/\//, '') : location.host;
    if (c.state === 'ok') {
      line.textContent = `connected to ${c.node} (${where})${c.note ? ` — ${c.note}, switched to ${c.node}` : ''}`;
    } else if (c.state === 'lost') {
      line.textContent = `${c.node || 'node'} lost${c.note ? ` (${c.note})` : ''} — reconnecting to another member…`;
    } else if (c.state === 'login') {
      line.textContent = 'password required';
    } else {
      line.textContent = `connecting to ${where}…`;
    }
  });
}

function main() {
  initConn();
  initLogin();
  for (const p of [nodes, ring, opsConsole, config, timeline, merkle, gossip, hints, partition, events]) {
    p.init(actions);
  }
  setInterval(tick, 1000);
  connect();
}

main();
