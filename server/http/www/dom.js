// dom.js -- small helpers every panel uses to build DOM and SVG.
//
// Text from the cluster (keys, values, node names) only ever becomes a
// text node or an attribute value, never HTML: el() and svg() take
// children as strings (made text nodes) or nodes, and there is no
// innerHTML anywhere in the page.  No inline styles either (the page is
// served with a strict Content-Security-Policy): looks come from classes
// in style.css and, for SVG, from presentation attributes.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    } else if (k === 'text') {
      node.textContent = String(v);
    } else {
      node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// el('div', {class: 'row', 'data-node': 'n1'}, 'text', child...)
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

export function $$(sel, root = document) {
  return Array.from(root.querySelectorAll(sel));
}

// Replaces a node's children.
export function fill(node, ...children) {
  node.replaceChildren();
  return build(node, null, children);
}

// A panel's one-line message (#nodes-msg, #partition-msg...): bad marks a
// refusal or a failure.
export function say(sel, text, bad) {
  const m = document.querySelector(sel);
  m.textContent = text;
  m.classList.toggle('bad', !!bad);
}

export function fmtUs(us) {
  const n = Number(us) || 0;
  if (n < 1000) return `${n} µs`;
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e4 ? 2 : 1)} ms`;
  return `${(n / 1e6).toFixed(2)} s`;
}

export function fmtAge(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n)) return '?';
  if (n < 1000) return `${Math.round(n)}ms`;
  if (n < 60000) return `${(n / 1000).toFixed(1)}s`;
  return `${Math.round(n / 60000)}m`;
}

export function fmtBytes(b) {
  const n = Number(b) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

export function fmtTime(ms) {
  const d = new Date(Number(ms) || 0);
  const p = (x, w = 2) => String(x).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// A stable colour per node name: the number in "n3" picks from a palette,
// so every panel draws n3 alike.
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1',
  '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];

export function nodeColor(name) {
  const m = /(\d+)$/.exec(String(name));
  let i;
  if (m) {
    i = (Number(m[1]) + PALETTE.length - 1) % PALETTE.length;
  } else {
    i = 0;
    for (const ch of String(name)) i = (i * 31 + ch.charCodeAt(0)) % PALETTE.length;
  }
  return PALETTE[i];
}

// Node names sort by their number ("n2" before "n10").
export function byName(a, b) {
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}
