"""differential.py -- replay one command script against two servers and
compare the raw reply bytes.

Usage: differential.py SCRIPT PORT_REFERENCE PORT_TESTED [NAME_REF NAME_TESTED]

The reference is Debian's redis-server 7.0; the tested server is dynamod.
Every entry of the script is sent as raw bytes over a plain socket, to both
servers, in the same order, so both see the same state.  Replies are read as
whole RESP2/RESP3 values by a small framing parser (below) and compared byte
for byte, or by shape where the script says so.  Every mismatch is printed
with both byte strings; the exit status is 1 if there was any, 0 otherwise.

Script syntax, one entry per line ('#' starts a comment line):

    CMD arg arg ...        sent as a RESP multibulk; reply compared exactly
    ~ CMD ...              compare the top-level RESP type only
    ~~ CMD ...             compare the whole type tree (types and lengths,
                           not the scalar values)
    ?a|b|c CMD ...         same type, and both replies contain a, b and c
    !raw[N] "bytes"        send the bytes as they are on the shared
                           connection and read N replies (default 1)
    !fresh "bytes"         open a new connection, send the bytes, read until
                           the server closes it (or 2 s of silence); compare
                           the bytes and whether the connection was closed
    !freshN "bytes"        as !fresh but read exactly N replies, then close
    !reconnect             drop the shared connection and open a new one
                           (back to RESP2, not authenticated)

Arguments are split as a shell would: "double quotes" allow spaces and the
escapes \\r \\n \\t \\0 \\\\ \\" \\xHH; 'single quotes' are literal.  The
quoted string of !raw and !fresh uses the same escapes, and a trailing
"*N" after it repeats the bytes N times (for oversized requests).
"""
import socket
import sys
import time

TIMEOUT = 2.0


# ---- script parsing -----------------------------------------------------

def unescape(s, i, quote):
    """Parses a quoted token starting after the opening quote at s[i].
    Returns (bytes, index after the closing quote)."""
    out = bytearray()
    while i < len(s):
        ch = s[i]
        if ch == quote:
            return bytes(out), i + 1
        if ch == "\\" and quote == '"' and i + 1 < len(s):
            nx = s[i + 1]
            simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92, '"': 34,
                      "a": 7, "b": 8}
            if nx in simple:
                out.append(simple[nx])
                i += 2
                continue
            if nx == "x" and i + 3 < len(s):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
        out += ch.encode()
        i += 1
    raise ValueError("unterminated quote")


def split_args(s):
    args, i = [], 0
    while True:
        while i < len(s) and s[i] in " \t":
            i += 1
        if i >= len(s):
            return args
        tok = bytearray()
        while i < len(s) and s[i] not in " \t":
            if s[i] in "\"'":
                part, i = unescape(s, i + 1, s[i])
                tok += part
            else:
                tok += s[i].encode()
                i += 1
        args.append(bytes(tok))


def raw_payload(rest):
    """One or more double-quoted strings, each optionally followed by *N
    (repeat it N times), concatenated."""
    data, i = b"", 0
    while True:
        while i < len(rest) and rest[i] == " ":
            i += 1
        if i >= len(rest):
            break
        if rest[i] != '"':
            raise ValueError("raw payload: expected a double-quoted string")
        part, i = unescape(rest, i + 1, '"')
        if rest[i:i + 1] == "*":
            j = i + 1
            while j < len(rest) and rest[j].isdigit():
                j += 1
            part, i = part * int(rest[i + 1:j]), j
        data += part
    if not data:
        raise ValueError("empty raw payload")
    return data


def multibulk(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Entry:
    def __init__(self, lineno, text):
        self.lineno = lineno
        self.text = text
        self.mode = "exact"      # exact | shape | deep | contains | unordered
        self.needles = []
        self.group = 1           # unordered: elements per item (%2: pairs)
        self.transport = "shared"  # shared | fresh | reconnect
        self.nreplies = 1
        self.payload = b""
        first, _, rest = text.partition(" ")
        if first == "~":
            self.mode = "shape"
            text = rest
        elif first == "~~":
            self.mode = "deep"
            text = rest
        elif first.startswith("%"):
            self.mode = "unordered"
            self.group = int(first[1:] or 1)
            text = rest
        elif first.startswith("?"):
            self.mode = "contains"
            self.needles = [n.encode() for n in first[1:].split("|") if n]
            text = rest
        first, _, rest = text.partition(" ")
        if first == "!reconnect":
            self.transport = "reconnect"
            self.nreplies = 0
        elif first.startswith("!raw"):
            self.nreplies = int(first[4:] or 1)
            self.payload = raw_payload(rest)
        elif first.startswith("!fresh"):
            self.transport = "fresh"
            self.nreplies = int(first[6:]) if first[6:] else None
            self.payload = raw_payload(rest)
        else:
            self.payload = multibulk(split_args(text))


def load(path):
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                entries.append(Entry(n, line.strip()))
            except ValueError as e:
                sys.exit("%s:%d: %s" % (path, n, e))
    return entries


# ---- RESP framing -------------------------------------------------------

LINE_TYPES = b"+-:_,#("
BULK_TYPES = b"$!="
AGG_TYPES = b"*~>"


class Incomplete(Exception):
    pass


def parse(buf, pos=0):
    """Parses one RESP2/RESP3 value at buf[pos:].  Returns (tree, end):
    tree is (type_char, children-or-None, scalar-bytes).  Raises Incomplete
    when more bytes are needed."""
    if pos >= len(buf):
        raise Incomplete()
    t = buf[pos:pos + 1]
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        raise Incomplete()
    line = buf[pos + 1:eol]
    end = eol + 2
    if t[0] in LINE_TYPES:
        return (t, None, line), end
    if t == b"|":  # attribute: a map, then the real value
        n = int(line)
        for _ in range(2 * n):
            _, end = parse(buf, end)
        return parse(buf, end)
    if t[0] in BULK_TYPES:
        n = int(line)
        if n < 0:
            return (t, None, None), end
        if len(buf) < end + n + 2:
            raise Incomplete()
        return (t, None, buf[end:end + n]), end + n + 2
    if t[0] in AGG_TYPES or t == b"%":
        n = int(line)
        if n < 0:
            return (t, None, None), end
        kids = []
        for _ in range(2 * n if t == b"%" else n):
            k, end = parse(buf, end)
            kids.append(k)
        return (t, kids, None), end
    raise ValueError("not RESP: %r" % buf[pos:pos + 40])


def shape(tree, deep):
    t, kids, _ = tree
    if not deep or kids is None:
        return t.decode()
    return t.decode() + "[" + ",".join(shape(k, True) for k in kids) + "]"


# ---- talking to a server ------------------------------------------------

class Server:
    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.sock = None
        self.buf = b""

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def reconnect(self):
        if self.sock:
            self.sock.close()
        self.sock = self.connect()
        self.buf = b""

    def read_replies(self, sock, buf, n):
        """Reads n whole replies.  Returns (raw bytes of them, trees,
        leftover, status) where status is '' or a note such as
        '<timeout>' / '<closed>'."""
        trees, pos, status = [], 0, ""
        while len(trees) < n:
            try:
                tree, end = parse(buf, pos)
                trees.append(tree)
                pos = end
                continue
            except Incomplete:
                pass
            except ValueError:
                status = "<garbage>"
                break
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                status = "<timeout>"
                break
            except OSError:
                chunk = b""
            if not chunk:
                status = "<closed>"
                break
            buf += chunk
        if status:  # everything received counts; nothing is left over
            return buf, trees, b"", status
        return buf[:pos], trees, buf[pos:], ""

    def run_shared(self, e):
        if e.transport == "reconnect":
            self.reconnect()
            return b"", [], ""
        try:
            self.sock.sendall(e.payload)
        except OSError:
            self.reconnect()
            return b"", [], "<send failed>"
        raw, trees, self.buf, status = self.read_replies(self.sock, self.buf,
                                                         e.nreplies)
        if status:  # the shared connection is out of step: start afresh
            self.reconnect()
        return raw, trees, status

    def run_fresh(self, e):
        s = self.connect()
        try:
            s.sendall(e.payload)
        except OSError:
            pass  # the server may close while we send an oversized request
        if e.nreplies is not None:
            raw, trees, _, status = self.read_replies(s, b"", e.nreplies)
            s.close()
            return raw, trees, status
        data, status = b"", ""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                status = "<open>"
                break
            except OSError:
                chunk = b""
            if not chunk:
                status = "<closed>"
                break
            data += chunk
        s.close()
        trees = []
        pos = 0
        try:
            while pos < len(data):
                t, pos = parse(data, pos)
                trees.append(t)
        except (Incomplete, ValueError):
            pass
        return data, trees, status

    def run(self, e):
        if e.transport == "fresh":
            return self.run_fresh(e)
        return self.run_shared(e)


def unordered(trees, group):
    """The replies with each top-level array's items (group elements each:
    2 for HGETALL's field-value pairs) sorted, so two servers that list the
    same members in different orders compare equal; elements of a nested
    array (a SCAN page's keys) are sorted the same way."""
    out = []
    for t, kids, scalar in trees:
        if kids is None:
            out.append((t, scalar))
            continue
        if len(kids) == 2 and kids[1][1] is not None and kids[0][1] is None:
            head, inner = kids[0], kids[1]      # [cursor, [items]]
            out.append((t, head, unordered_items(inner[1], group)))
            continue
        out.append((t, unordered_items(kids, group)))
    return out


def unordered_items(kids, group):
    flat = [repr(k) for k in kids]
    items = [tuple(flat[i:i + group]) for i in range(0, len(flat), group)]
    return sorted(items)


def compare(e, a, b):
    """Returns None if the two results agree under e's mode, else a reason."""
    raw_a, trees_a, st_a = a
    raw_b, trees_b, st_b = b
    if st_a != st_b:
        return "status %s vs %s" % (st_a or "ok", st_b or "ok")
    if e.mode == "exact":
        return None if raw_a == raw_b else "bytes differ"
    if e.mode == "unordered":
        return None if unordered(trees_a, e.group) == unordered(trees_b, e.group) \
            else "elements differ"
    if len(trees_a) != len(trees_b):
        return "reply count %d vs %d" % (len(trees_a), len(trees_b))
    for ta, tb in zip(trees_a, trees_b):
        if e.mode == "contains":
            if ta[0] != tb[0]:
                return "type %r vs %r" % (ta[0], tb[0])
            for needle in e.needles:
                if needle not in raw_b or needle not in raw_a:
                    return "%r missing" % needle
        elif shape(ta, e.mode == "deep") != shape(tb, e.mode == "deep"):
            return "shape %s vs %s" % (shape(ta, True), shape(tb, True))
    return None


def show(raw):
    r = repr(raw)
    return r if len(r) <= 600 else r[:600] + "...(%d bytes)" % len(raw)


def main():
    if len(sys.argv) not in (4, 6):
        sys.exit(__doc__)
    script, pa, pb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    na, nb = (sys.argv[4], sys.argv[5]) if len(sys.argv) == 6 else ("reference", "tested")
    entries = load(script)
    a, b = Server(na, pa), Server(nb, pb)
    a.reconnect()
    b.reconnect()
    mismatches = 0
    for e in entries:
        ra, rb = a.run(e), b.run(e)
        why = compare(e, ra, rb)
        if why is None:
            r = repr(ra[0])
            print("ok   - line %d: %s  =>  %s%s %s" % (
                e.lineno, e.text[:80], r[:80], "..." if len(r) > 80 else "",
                ra[2]))
            continue
        mismatches += 1
        print("FAIL - line %d: %s\n       (%s)\n       %-9s %s %s\n       %-9s %s %s" % (
            e.lineno, e.text[:200], why, na + ":", show(ra[0]), ra[2],
            nb + ":", show(rb[0]), rb[2]))
    print("differential: %d entries, %d mismatches" % (len(entries), mismatches))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
