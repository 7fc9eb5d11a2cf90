// walkthrough.mjs -- the dashboard, driven in headless Debian chromium
// through playwright-core, against a real 5-node cluster that
// tests/integration/t_browser.sh started (trace on, short failure
// detection, anti-entropy in round robin only).  Everything is done as a
// person would: typing into the console, clicking the nodes' buttons, the
// N/R/W form, the conflict and resolve buttons, the partition tool; the
// page's DOM (the contract in the page's modules: #trace, .trace-replica,
// #hints .hint-count, svg#timeline .version, #merkle-summary...) is what
// is checked.  The JSON API is read beside it only as the oracle (what the
// cluster really holds) and to put the cluster back after a failed step.
//
//   1. PUT cart_42: the coordinator, the preference list and the replicas
//      in #trace match the key's preference list (/api/ring/key).
//   2. Kill a replica of cart_42 (its Kill button), PUT again: a stand-in
//      took the write (.trace-replica.standin, "hint for nX") and its hint
//      count shows it.
//   3. Revive it: the hint is delivered (a hint-delivered event, every
//      hint count back to 0).
//   4. N/R/W: R=1 W=1 applied (#cfg-overlap says R+W<=N; every member
//      holds it), then back to R=2 W=2 (R+W>N).
//   5. Create a conflict: two siblings (.version.conflict x2) in
//      svg#timeline; resolve: no conflict left, and one version with edges
//      from both siblings.
//   6. Partition {n2,n3} | {n4,n5} (n1, serving the page, sees both), a
//      write on each side (via a node of each side) that a replica on
//      the other side misses: #merkle-summary goes divergent; heal: the hints go
//      through, "0 divergent".
//   7. Kill n1, the node serving the page, with its own Kill button: #conn
//      says n1 was lost and the page carries on through another member
//      (cross-origin); n1's Revive button, now sent through that member,
//      brings it back up.
//   8. Add node: the first spare in #spare-select joins through the node
//      now serving the page (a real DYNAMO.JOIN with streaming): its row
//      and its ring marker appear and it is seen up.
//
// Waits poll the page with generous deadlines; nothing sleeps to wait.
// Any console error or page error fails the run, but for one kind in step
// 7: Chrome logs every answer of n1 that is not 2xx while it is killed
// (503 KILLED) as "Failed to load resource"; those, for n1's own address
// and in that step only, are what the step provokes on purpose.  A screenshot per step
// (and one of a failed step) goes to ARTIFACTS; the dashboard mid-walk is
// also saved as dashboard.png there (docs/dashboard.png is a copy).
//
// Environment: DASH_HTTP (n1's http base, http://127.0.0.1:PORT),
// NODE_HTTP (the members' http bases, comma-separated, n1 first),
// ARTIFACTS (a directory), CHROMIUM (default /usr/bin/chromium).
// Output: "ok   - ..." / "FAIL - ..." lines; exit 1 when one failed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const DASH = process.env.DASH_HTTP;
const NODES = (process.env.NODE_HTTP || '').split(',').filter(Boolean);
const ART = process.env.ARTIFACTS || 'browser-artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_S = 90;          // a step's waits: generous, on 2 busy CPUs
const KEY = 'cart_42';

if (!DASH || NODES.length < 5) {
  console.error('walkthrough: DASH_HTTP and NODE_HTTP (5 bases) are required');
  process.exit(99);
}
mkdirSync(ART, { recursive: true });

let failures = 0;
const consoleErrors = [];
let stepLabel = 'loading the page';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ok(what) { console.log(`ok   - ${what}`); }
function fail(what) { failures++; console.log(`FAIL - ${what}`); }

// The oracle: the JSON API of member i (1-based), outside the page.
async function api(i, method, path, body) {
  const r = await fetch(NODES[i - 1] + path, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(20000),
  });
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  return { status: r.status, data };
}

// Polls fn (async, truthy = done) until the deadline; returns its value.
async function until(what, fn, secs = STEP_S) {
  const end = Date.now() + secs * 1000;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`no ${what} within ${secs} s${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await sleep(200);
  }
}

const text = async (page, sel) => {
  const h = await page.$(sel);
  return h ? (await h.textContent()) || '' : null;
};
const count = (page, sel) => page.$$eval(sel, (els) => els.length);

async function shot(page, name) {
  await page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
}

// Puts the cluster back where the next step expects it (after a failed
// step): every node revived, no fault, N=3 R=2 W=2.
async function restore() {
  for (let i = 1; i <= 5; i++) await api(1, 'POST', `/api/nodes/n${i}/revive`, {}).catch(() => {});
  await api(1, 'DELETE', '/api/faults').catch(() => {});
  await api(1, 'POST', '/api/cluster/config', { n: 3, r: 2, w: 2 }).catch(() => {});
}

// A console operation.  A PUT of a key that exists is preceded by a GET,
// as a person would do it: the GET fills #op-context, and the PUT carries
// it, so the new value supersedes what was read instead of adding a
// sibling.  (A new key is not read first: its 404 would be a console
// error, "Failed to load resource".)
async function op(page, method, key, value, { via, fresh } = {}) {
  await page.fill('#op-key', key);
  if (via) await page.selectOption('#op-via', via);
  if (method === 'PUT' && !fresh) {
    const before = await text(page, '#op-result');
    await page.click('#op-get');
    await until(`GET ${key} answered`, async () => {
      const t = await text(page, '#op-result');
      return t !== before && t.startsWith(`GET ${key}`);
    }, 30);
  }
  if (value !== undefined) await page.fill('#op-value', value);
  await page.click(method === 'PUT' ? '#op-put' : method === 'GET' ? '#op-get' : '#op-del');
}

// The replicas #trace shows: [{node, cls, text}].
const traceReplicas = (page) => page.$$eval('#trace .trace-replica', (els) => els.map((e) => ({
  node: e.getAttribute('data-node'), cls: e.className, text: e.textContent,
})));

const state = {};

const steps = [
  ['PUT cart_42: coordinator, preference list and replicas in #trace', async (page) => {
    const pl = await api(1, 'GET', `/api/ring/key/${KEY}`);
    const pref = pl.data.replicas.map((r) => r.name);
    state.pref = pref;
    // an old trace of the key must not be taken for this one: wait for
    // the coordinator of an op that wrote this value
    await op(page, 'PUT', KEY, 'apples', { fresh: true });
    await until('trace coordinator', async () => (await text(page, '#trace-coordinator')) &&
      (await text(page, '#op-result')).includes('apples'));
    const coord = (await text(page, '#trace-coordinator')).trim();
    if (!pref.includes(coord)) throw new Error(`coordinator ${coord} is not in the preference list ${pref}`);
    const reps = await traceReplicas(page);
    const owners = reps.filter((r) => /\bowner\b/.test(r.cls)).map((r) => r.node).sort();
    if (JSON.stringify(owners) !== JSON.stringify([...pref].sort())) {
      throw new Error(`#trace owners ${owners} differ from the preference list ${pref}`);
    }
    const nsteps = await count(page, '#trace .trace-step');
    if (nsteps < 3) throw new Error(`only ${nsteps} .trace-step items`);
    await until('the key on the ring (.key-marker, .pref on its replicas)', async () =>
      (await count(page, 'svg#ring .key-marker')) > 0 &&
      (await count(page, 'svg#ring .ring-node.pref')) === pref.length);
    const g = await api(1, 'GET', `/api/data/${KEY}`);
    if (!(g.data.values || []).includes('apples')) throw new Error(`the cluster holds ${g.data.values}`);
    state.firstCoordinator = coord;
    await shot(page, '01-put-trace');
    return `coordinator ${coord}, preference list ${pref.join(',')}, ${nsteps} trace steps`;
  }],

  ['kill a replica of cart_42, PUT: a sloppy write and its hint', async (page) => {
    const victim = [...state.pref].reverse().find((n) => n !== 'n1');
    state.victim = victim;
    await page.click(`#nodes [data-node="${victim}"] button[data-action="kill"]`);
    await until(`${victim} shown killed or down`, async () =>
      /killed|down|suspect/.test(await text(page, `#nodes [data-node="${victim}"] .status`)));
    // n1 must see it gone before a write takes a stand-in
    await until(`n1 holding ${victim} not up`, async () => {
      const c = await api(1, 'GET', '/api/cluster');
      const m = c.data.members.find((x) => x.name === victim);
      return m && m.status !== 'up';
    });
    let holder = null;
    let i = 0;
    await until('a trace with a stand-in for the killed replica', async () => {
      await op(page, 'PUT', KEY, `pears ${++i}`);
      await until('the PUT answered', async () => (await text(page, '#op-result')).includes(`pears ${i}`), 30);
      const reps = await traceReplicas(page);
      const s = reps.find((r) => /\bstandin\b/.test(r.cls) && r.text.includes(`hint for ${victim}`) &&
        /sloppy/.test(r.text));
      if (s) holder = s.node;
      return s;
    });
    state.holder = holder;
    await until(`${holder}'s hint count above 0`, async () =>
      Number(await text(page, `#hints [data-node="${holder}"] .hint-count`)) > 0);
    await until(`${holder}'s queue names its owner ${victim}`, async () =>
      new RegExp(`for .*\\b${victim}: [1-9]`).test(await text(page, `#hints [data-node="${holder}"] .hint-owners`)));
    await until('a sloppy-write event', async () => (await count(page, '#events .event[data-type="sloppy-write"]')) > 0);
    await shot(page, '02-sloppy-write');
    await page.screenshot({ path: join(ART, 'dashboard.png') });
    return `killed ${victim}; ${holder} stood in and holds a hint for it`;
  }],

  ['revive the replica: the hint is delivered, hint counts back to 0', async (page) => {
    const victim = state.victim;
    if (!victim) throw new Error('no killed replica (step 2 failed)');
    await page.click(`#nodes [data-node="${victim}"] button[data-action="revive"]`);
    await until(`${victim} shown up`, async () =>
      (await text(page, `#nodes [data-node="${victim}"] .status`)).trim() === 'up');
    await until('a hint-delivered event', async () =>
      (await count(page, '#events .event[data-type="hint-delivered"]')) > 0);
    await until('every hint count at 0', async () => {
      const counts = await page.$$eval('#hints [data-node] .hint-count', (els) => els.map((e) => Number(e.textContent)));
      return counts.length >= 5 && counts.every((c) => c === 0);
    });
    await shot(page, '03-hint-delivered');
    return `${victim} is up, the hint was handed off`;
  }],

  ['change N/R/W and see it applied', async (page) => {
    const setCfg = async (n, r, w) => {
      await page.fill('#cfg-n', String(n));
      await page.fill('#cfg-r', String(r));
      await page.fill('#cfg-w', String(w));
      await page.click('#cfg-apply');
      await until(`N=${n} R=${r} W=${w} applied`, async () =>
        (await text(page, '#cfg-msg')).includes(`N=${n} R=${r} W=${w}`));
      for (let i = 1; i <= 5; i++) {
        await until(`n${i} holding R=${r} W=${w}`, async () => {
          const c = await api(i, 'GET', '/api/cluster/config');
          return c.data.n === n && c.data.r === r && c.data.w === w;
        });
      }
    };
    await setCfg(3, 1, 1);
    if (!(await text(page, '#cfg-overlap')).includes('R+W<=N')) throw new Error('#cfg-overlap does not say R+W<=N');
    await shot(page, '04-nrw-applied');
    await setCfg(3, 2, 2);
    await until('R+W>N explained', async () => (await text(page, '#cfg-overlap')).includes('R+W>N'));
    return 'R=1 W=1 reached every member, then R=2 W=2';
  }],

  ['create a conflict, see two siblings, resolve it', async (page) => {
    await page.fill('#op-key', KEY);
    await page.click('#conflict-btn');
    const dots = await until('two conflicting versions in svg#timeline', async () => {
      const d = await page.$$eval('svg#timeline .version.conflict', (els) => els.map((e) => e.getAttribute('data-dot')));
      return d.length === 2 ? d : null;
    });
    const g = await api(1, 'GET', `/api/data/${KEY}`);
    if ((g.data.values || []).length !== 2) throw new Error(`the cluster holds ${JSON.stringify(g.data.values)}`);
    await shot(page, '05-conflict');
    await page.fill('#resolve-value', 'apples and pears');
    await page.click('#resolve-btn');
    const merged = await until('one version superseding both siblings', async () => {
      if ((await count(page, 'svg#timeline .version.conflict')) !== 0) return null;
      const edges = await page.$$eval('svg#timeline .edge', (els) => els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to')]));
      const to = new Set(edges.filter(([f]) => f === dots[0]).map(([, t]) => t));
      return edges.find(([f, t]) => f === dots[1] && to.has(t))?.[1] || null;
    });
    const r = await api(1, 'GET', `/api/data/${KEY}`);
    if (JSON.stringify(r.data.values) !== JSON.stringify(['apples and pears'])) {
      throw new Error(`after the resolve the cluster holds ${JSON.stringify(r.data.values)}`);
    }
    await shot(page, '05-resolved');
    return `siblings ${dots.join(' and ')} superseded by ${merged}`;
  }],

  ['partition, write on both sides, heal: Merkle divergent, then 0 divergent', async (page) => {
    // n1 serves the page and stays out of both groups, so it sees both
    // sides.  keyA's replicas are n1, a node a of side A and a node b of
    // side B: written via a, it reaches a and n1, and the other node of
    // side A keeps the hint for b, which it cannot hand over before the
    // heal.  keyB likewise (same kind of replicas), written via its b.  n1
    // then sees both partitions' replicas disagree, until the heal lets
    // the hints through (or an anti-entropy round reaches them first).
    const A = ['n2', 'n3'], B = ['n4', 'n5'];
    const found = [];
    for (let i = 0; i < 2000 && found.length < 2; i++) {
      const k = `split_${i}`;
      const reps = (await api(1, 'GET', `/api/ring/key/${k}`)).data.replicas.map((r) => r.name);
      const a = A.find((n) => reps.includes(n)), b = B.find((n) => reps.includes(n));
      if (reps.includes('n1') && a && b) found.push({ k, via: found.length ? b : a });
    }
    if (found.length < 2) throw new Error('no keys with the replicas wanted');
    const [{ k: keyA, via: viaA }, { k: keyB, via: viaB }] = found;
    for (const n of A) await page.check(`#partition input[data-group="a"][data-node="${n}"]`);
    for (const n of B) await page.check(`#partition input[data-group="b"][data-node="${n}"]`);
    await page.click('#partition-cut');
    await until('the cut applied', async () => /cut/.test(await text(page, '#partition-msg')));
    // each writer must hold the other side down before its write
    for (const [who, others] of [[viaA, B], [viaB, A]]) {
      await until(`${who} holding ${others.join(',')} not up`, async () => {
        const c = await api(Number(who.slice(1)), 'GET', '/api/cluster');
        return others.every((o) => c.data.members.find((x) => x.name === o).status !== 'up');
      });
    }
    // the summary is watched from here on: a divergence may last only
    // until an anti-entropy round reaches its partition
    let sawDivergent = 0;
    const watch = setInterval(async () => {
      const s = await text(page, '#merkle-summary').catch(() => '');
      const m = /(\d+) divergent/.exec(s || '');
      if (m && Number(m[1]) > 0) sawDivergent = Math.max(sawDivergent, Number(m[1]));
    }, 100);
    try {
      await op(page, 'PUT', keyA, 'side a', { via: viaA, fresh: true });
      await until(`${keyA} written via ${viaA}`, async () => (await text(page, '#op-result')).includes('side a') &&
        /→ 200/.test(await text(page, '#op-result')));
      await op(page, 'PUT', keyB, 'side b', { via: viaB, fresh: true });
      await until(`${keyB} written via ${viaB}`, async () => (await text(page, '#op-result')).includes('side b') &&
        /→ 200/.test(await text(page, '#op-result')));
      await until('#merkle-summary divergent', async () => sawDivergent > 0, 60);
      await shot(page, '06-partitioned-divergent');
      await page.click('#partition-heal');
      await until('the heal applied', async () => /healed/.test(await text(page, '#partition-msg')));
      await until('#merkle-summary at 0 divergent', async () =>
        /(^|\D)0 divergent/.test(await text(page, '#merkle-summary')), 240);
    } finally {
      clearInterval(watch);
    }
    for (const [k, v, n] of [[keyA, 'side a', 5], [keyB, 'side b', 3]]) {
      const r = await api(n, 'GET', `/api/data/${k}`);
      if (!(r.data.values || []).includes(v)) throw new Error(`${k} is not readable through n${n} after the heal`);
    }
    await shot(page, '06-healed-in-sync');
    return `${keyA} via ${viaA} and ${keyB} via ${viaB}; ${sawDivergent} partition(s) divergent, then 0`;
  }],

  ['kill the node serving the page: it says so and carries on through another member', async (page) => {
    let sawLost = false;
    const watch = setInterval(async () => {
      const cls = await page.$eval('#conn', (e) => e.className).catch(() => '');
      if (/\blost\b/.test(cls)) sawLost = true;
    }, 100);
    let now;
    try {
      await page.click('#nodes [data-node="n1"] button[data-action="kill"]');
      await until('#conn connected through another member, saying n1 was lost', async () => {
        now = await text(page, '#conn');
        return /connected to n[2-9]/.test(now) && /n1 was (lost|killed)/.test(now);
      });
    } finally {
      clearInterval(watch);
    }
    await shot(page, '07-reconnected');
    await page.click('#nodes [data-node="n1"] button[data-action="revive"]');
    await until('n1 up again, seen through the new member', async () =>
      /\bup\b/.test(await text(page, '#nodes [data-node="n1"] .status')));
    await until('n1 answers data again', async () => (await api(1, 'GET', `/api/data/${KEY}`)).status === 200);
    return `${now.trim()}${sawLost ? ' (the "lost" state was shown first)' : ''}`;
  }],

  ['Add node: a spare joins from the page, its partitions stream to it', async (page) => {
    await until('a spare offered', async () =>
      !(await page.$eval('#add-node', (b) => b.disabled)) &&
      /^\S+:\d+$/.test(await page.$eval('#spare-select', (s) => s.value)));
    const label = (await page.$eval('#spare-select', (s) => s.selectedOptions[0].textContent)).trim();
    const name = label.split(' ')[0];
    const epoch0 = (await api(2, 'GET', '/api/ring')).data.epoch;
    await page.click('#add-node');
    await until(`${name}'s row, up`, async () =>
      /\bup\b/.test((await text(page, `#nodes [data-node="${name}"] .status`)) || ''), 180);
    await until(`${name} on the ring, the ring's epoch past ${epoch0}`, async () =>
      (await count(page, `svg#ring .ring-node[data-node="${name}"]`)) === 1 &&
      (await api(2, 'GET', '/api/ring')).data.nodes.some((x) => x.name === name && x.partitions > 0) &&
      (await api(2, 'GET', '/api/ring')).data.epoch > epoch0, 180);
    await shot(page, '08-node-added');
    return `${label} joined; the ring moved past epoch ${epoch0}`;
  }],
];

// the step that kills the serving node (its 503s are expected; see the top)
const killServingStep = `step ${steps.findIndex(([what]) => what.startsWith('kill the node serving')) + 1}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
let page;
try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  page = await ctx.newPage();
  page.on('console', (m) => {
    const url = m.location().url || '';
    if (m.type() === 'error' && stepLabel === killServingStep &&
        /^Failed to load resource/.test(m.text()) && url.startsWith(DASH)) return;
    if (m.type() === 'error') consoleErrors.push(`${stepLabel}: console: ${m.text()} (${m.location().url || ''})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${stepLabel}: page error: ${e.message}`));
  await page.goto(`${DASH}/`);
  try {
    await until('the page connected to n1 with 5 members', async () =>
      /n1/.test(await text(page, '#conn')) && (await count(page, '#nodes [data-node]')) === 5, 60);
    ok('the page connected to n1 and lists the 5 members');
  } catch (e) {
    fail(`the page did not come up: ${e.message}`);
    await shot(page, '00-failed');
  }
  let n = 0;
  for (const [what, fn] of steps) {
    n++;
    stepLabel = `step ${n}`;
    try {
      const said = await fn(page);
      ok(`step ${n}: ${what}: ${said}`);
    } catch (e) {
      fail(`step ${n}: ${what}: ${e.message}`);
      await shot(page, `${String(n).padStart(2, '0')}-failed`).catch(() => {});
      await restore();
    }
  }
  stepLabel = 'after the steps';
} finally {
  await browser.close();
}
for (const c of consoleErrors) console.log(`#   ${c}`);
if (consoleErrors.length) fail(`${consoleErrors.length} console or page error(s) (listed above)`);
else ok('no console error and no page error');
process.exit(failures ? 1 : 0);
