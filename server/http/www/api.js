// api.js -- the JSON API and the event stream, for every panel.
//
// Where requests go: the "base" is '' (relative URLs: the node that served
// the page) until that node is lost; then app.js points it at another
// member, "http://host:port" from /api/cluster's nodes[*].http (members
// accept each other's origins, with CORS).  A request "via" a chosen
// member uses that member's base for one call.
//
// The password: on 401 the onAuth hook shows #login; the password is kept
// in sessionStorage (this tab only) and sent as "Authorization: Bearer".
// The stream is read with fetch() rather than EventSource, because
// EventSource cannot send that header and the password must not go into
// a URL.
//
// Nothing here throws at the caller: request() resolves to
// {ok, status, data}, where status 0 means the member did not answer (a
// network error), and data is the JSON body (or {error}).

const TOKEN_KEY = 'dynamo-password';
const REQUEST_TIMEOUT_MS = 8000;

let base = '';
let onAuth = () => {};

export function getBase() {
  return base;
}

export function setBase(b) {
  base = b;
}

// "127.0.0.1:8002" -> "http://127.0.0.1:8002"; '' stays ''.
export function baseOf(http) {
  if (!http) return '';
  return /^https?:\/\//.test(http) ? http : `${location.protocol}//${http}`;
}

export function setAuthHook(fn) {
  onAuth = fn;
}

export function setPassword(p) {
  if (p) sessionStorage.setItem(TOKEN_KEY, p);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(json) {
  const h = {};
  const p = sessionStorage.getItem(TOKEN_KEY);
  if (p) h.Authorization = `Bearer ${p}`;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

// request('GET', '/api/ring') or request('PUT', '/api/data/k', {value},
// {base: 'http://..'}).
export async function request(method, path, body, opts = {}) {
  const b = opts.base !== undefined ? opts.base : base;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeout || REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(b + path, {
      method,
      headers: headers(body !== undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: ctl.signal,
      cache: 'no-store',
    });
    let data = null;
    const text = await res.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = { error: text.slice(0, 200) };
    }
    if (res.status === 401) onAuth();
    return { ok: res.ok, status: res.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: { error: 'no answer from the node' } };
  } finally {
    clearTimeout(timer);
  }
}

export const get = (path, opts) => request('GET', path, undefined, opts);

// Reads /api/stream at base until it ends.  handler(name, data) gets each
// SSE message (data parsed as JSON; comments are skipped).  Resolves to
// 'absent' (404: the node has no stream), 'auth' (401), 'ended' (the
// stream closed or broke) or 'aborted' (signal).
export async function stream(b, handler, signal) {
  let res;
  try {
    res = await fetch(`${b}/api/stream`, {
      headers: { ...headers(false), Accept: 'text/event-stream' },
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    return signal.aborted ? 'aborted' : 'ended';
  }
  if (res.status === 404 || res.status === 405) return 'absent';
  if (res.status === 401) {
    onAuth();
    return 'auth';
  }
  if (!res.ok || !res.body) return 'ended';
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let m;
      while ((m = /\r?\n\r?\n/.exec(buf)) !== null) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        dispatchBlock(block, handler);
      }
    }
  } catch (e) {
    return signal.aborted ? 'aborted' : 'ended';
  }
  return 'ended';
}

// One SSE message: "event: name", "data: ..." lines (joined by \n),
// "id:", and ":" comments (keep-alive).
function dispatchBlock(block, handler) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch (e) {
    return;   // not JSON: not one of the contract's messages
  }
  handler(name, parsed);
}
