#!/usr/bin/python3
"""crash_load.py -- write load and checker for the durable-storage tests.

Speaks RESP over a raw socket (no client library), so what counts as
"acknowledged" is exact: a write is recorded only once its reply has been
read.

  load   --port P --state F --round R [--threads 4] [--seconds 10] [--ready F]
      Unique-key SETs, overwrites and DELs from several connections, each
      with one request in flight, until the server goes away (kill -9) or
      the time is up.  The state file F (JSON) holds, for every key ever
      written, its last acknowledged value (null = deleted) and, for the
      request that was in flight when a connection died, the set of values
      the key may now hold (previous or new).  Exit 0, or 2 if no write was
      acknowledged at all.
  verify --port P --state F [--no-dbsize] [--sticky-doubt]
      GETs every key of F: each must hold its last acknowledged value
      (or, if a request was in flight, one of the allowed values, which then
      becomes the known value), and DBSIZE must equal the number of present
      keys (no resurrected deletes, no invented keys).  Exit 1 on any loss.
  fill   --port P --keys K --vsize V --tag T [--repeat N] [--progress F]
         [--ready F]
      Pipelined SETs of key:%08d (i < K) with value val(T.j, i) for rounds
      j = 1..N (N = 1: tag T itself).  On exit (done or connection lost) F
      gets "j acked": the round in progress and how many of its keys (a
      prefix, replies come in order) were acknowledged.  Exit 3 if the
      connection was lost.
  check  --port P --keys K --vsize V --tag T [--round J --acked N --prev P]
         [--upto N]
      Without --round: every key must hold val(T, i) (with --upto, only
      keys < N are checked and DBSIZE is not).  With it (after a
      kill during fill --repeat): keys < N hold val(T.J); the others hold
      val(T.J) or the previous round's value (T.(J-1), or P when J = 1).
      DBSIZE must be K.  Exit 1 on any loss.

  killer --port P --pid PID --max-ms MS [--field compaction_in_progress]
      Polls INFO persistence every millisecond on one connection and
      SIGKILLs PID as soon as FIELD is 1, or after MS milliseconds.

--ready F (load, fill) creates the file F once connected, so that a test
starts its random kill timer only when the load is really running.
"""
import argparse
import json
import os
import random
import signal
import socket
import string
import sys
import threading
import time


class Closed(Exception):
    pass


class Conn:
    def __init__(self, port, timeout=10.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError as e:
            raise Closed(str(e))

    def _fill(self):
        try:
            chunk = self.s.recv(1 << 20)
        except OSError as e:
            raise Closed(str(e))
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def reply(self):
        """One reply: bytes for strings, int, None for nil, list, or
        ('err', text) for an error."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return ("err", rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.reply() for _ in range(n)]
        raise Closed("protocol error: %r" % line[:80])

    def call(self, *args):
        self.send(self.encode(*args))
        return self.reply()


def is_err(r):
    return isinstance(r, tuple) and r and r[0] == "err"


# ---- load / verify ---------------------------------------------------------

def load_state(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"expect": {}, "uncertain": {}}


def save_state(path, st):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, path)


def touch(path):
    if path:
        open(path, "w").close()


def cmd_load(a):
    st = load_state(a.state)
    expect, uncertain = st["expect"], st["uncertain"]
    if uncertain:
        sys.exit("load: state has unresolved keys; run verify first")
    doubt = st.get("doubt", {})
    owned = [[] for _ in range(a.threads)]
    for i, k in enumerate(sorted(k for k in expect if k not in doubt)):
        owned[i % a.threads].append(k)
    stats = {"set_new": 0, "set_over": 0, "del": 0, "err": 0, "lost_conn": 0}
    errors = []
    lock = threading.Lock()
    deadline = time.monotonic() + a.seconds
    letters = string.ascii_letters.encode()

    def worker(tid):
        rnd = random.Random(os.urandom(8))
        mine = owned[tid]
        present = [k for k in mine if expect[k] is not None]
        try:
            c = Conn(a.port, timeout=5.0)
        except OSError as e:
            with lock:
                errors.append("connect: %s" % e)
            connected.release()
            return
        connected.release()
        seq = 0
        local = {"set_new": 0, "set_over": 0, "del": 0, "err": 0}
        try:
            while time.monotonic() < deadline:
                seq += 1
                r = rnd.random()
                if r < 0.65 or not present:
                    key, op = "c:%d:%d:%d" % (a.round, tid, seq), "set_new"
                elif r < 0.9:
                    key, op = rnd.choice(present), "set_over"
                else:
                    key, op = rnd.choice(present), "del"
                prev = expect.get(key)
                if op == "del":
                    new = None
                    req = Conn.encode("DEL", key)
                else:
                    pad = bytes(rnd.choice(letters) for _ in range(rnd.randint(8, 200)))
                    new = "v:%d:%d:%d:%s" % (a.round, tid, seq, pad.decode())
                    req = Conn.encode("SET", key, new)
                try:
                    c.send(req)
                    rep = c.reply()
                except Closed:
                    # In flight when the server died: either outcome is fine.
                    uncertain[key] = [prev, new]
                    local["lost_conn"] = 1
                    break
                if is_err(rep):
                    # Not acknowledged; treat as in doubt and stop this writer.
                    uncertain[key] = [prev, new]
                    local["err"] += 1
                    with lock:
                        errors.append("%s %s: %s" % (op, key, rep[1]))
                    break
                if op != "del" and rep != b"OK":
                    uncertain[key] = [prev, new]
                    with lock:
                        errors.append("%s %s: unexpected reply %r" % (op, key, rep))
                    break
                if op == "del" and rep != 1:
                    with lock:
                        errors.append("DEL %s of a present key replied %r" % (key, rep))
                expect[key] = new
                local[op] += 1
                if op == "set_new":
                    mine.append(key)
                    present.append(key)
                elif op == "del":
                    present.remove(key)
        finally:
            c.close()
            with lock:
                for k, v in local.items():
                    stats[k] = stats.get(k, 0) + v

    connected = threading.Semaphore(0)
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for t in threads:
        t.start()
    for _ in threads:
        connected.acquire()
    touch(a.ready)
    for t in threads:
        t.join()
    save_state(a.state, st)
    acked = stats["set_new"] + stats["set_over"] + stats["del"]
    print("load: round %d acked %d (new %d, overwrite %d, del %d), in doubt %d, "
          "error replies %d" % (a.round, acked, stats["set_new"], stats["set_over"],
                                stats["del"], len(uncertain), stats["err"]))
    for e in errors[:5]:
        print("load: " + e)
    if acked == 0:
        sys.exit(2)


def mget_all(c, keys, batch=1000):
    out = []
    for i in range(0, len(keys), batch):
        part = keys[i:i + batch]
        c.send(b"".join(Conn.encode("GET", k) for k in part))
        for k in part:
            r = c.reply()
            if is_err(r):
                raise SystemExit("GET %s: error %s" % (k, r[1]))
            out.append(None if r is None else r.decode())
    return out


def cmd_verify(a):
    st = load_state(a.state)
    expect, uncertain = st["expect"], st["uncertain"]
    doubt = st.setdefault("doubt", {})
    if a.sticky_doubt:
        # a write in flight when its coordinator died may have reached one
        # replica only: a quorum read can miss it now and see it later, so
        # its key may hold either value from now on (load leaves it alone)
        for k, allowed in uncertain.items():
            doubt[k] = sorted(set(doubt.get(k, [expect.get(k)])) | set(allowed),
                              key=lambda x: (x is not None, x or ""))
        uncertain = {}
    keys = sorted(set(expect) | set(uncertain) | set(doubt))
    c = Conn(a.port, timeout=30.0)
    vals = mget_all(c, keys)
    bad = []
    resolved = 0
    for k, v in zip(keys, vals):
        if k in doubt:
            if v not in doubt[k]:
                bad.append("%s: in doubt since a crash, got %r, allowed %r"
                           % (k, short(v), [short(x) for x in doubt[k]]))
            else:
                resolved += 1
        elif k in uncertain:
            if v not in uncertain[k]:
                bad.append("%s: in-flight write, got %r, allowed %r"
                           % (k, short(v), [short(x) for x in uncertain[k]]))
            else:
                resolved += 1
            expect[k] = v
        elif v != expect[k]:
            what = "deleted key came back" if expect[k] is None else "acknowledged write lost"
            bad.append("%s: %s: got %r, want %r" % (k, what, short(v), short(expect[k])))
    st["uncertain"] = {}
    present = sum(1 for v in expect.values() if v is not None)
    dbsize = c.call("DBSIZE")
    c.close()
    if dbsize != present and not a.no_dbsize:
        bad.append("DBSIZE %r != %d present keys" % (dbsize, present))
    save_state(a.state, st)
    print("verify: %d keys, %d present, %d deleted, %d in-flight resolved, %d bad"
          % (len(keys), present, len(keys) - present, resolved, len(bad)))
    for b in bad[:10]:
        print("verify: " + b)
    sys.exit(1 if bad else 0)


def short(v):
    return v if v is None or len(v) < 40 else v[:37] + "..."


# ---- fill / check ----------------------------------------------------------

def val(tag, i, vsize):
    head = ("%s:%d:" % (tag, i)).encode()
    return (head + b"x" * vsize)[:vsize]


def key(i):
    return b"key:%08d" % i


def cmd_fill(a):
    rounds = [a.tag] if a.repeat == 1 else ["%s.%d" % (a.tag, j) for j in range(1, a.repeat + 1)]
    j, acked = 0, 0
    code = 0
    try:
        c = Conn(a.port, timeout=30.0)
        touch(a.ready)
        for j, tag in enumerate(rounds, 1):
            acked = 0
            for lo in range(0, a.keys, a.batch):
                hi = min(a.keys, lo + a.batch)
                c.send(b"".join(Conn.encode(b"SET", key(i), val(tag, i, a.vsize))
                                for i in range(lo, hi)))
                for i in range(lo, hi):
                    r = c.reply()
                    if r != b"OK":
                        print("fill: SET %s: %s" % (key(i).decode(),
                                                    r[1] if is_err(r) else repr(r)))
                        code = 4
                        raise Closed("error reply")
                    acked += 1
    except (Closed, OSError) as e:
        code = code or 3
        print("fill: stopped in round %d after %d acked keys (%s)" % (j, acked, e))
    if a.progress:
        with open(a.progress, "w") as f:
            f.write("%d %d\n" % (j, acked))
    sys.exit(code)


def cmd_check(a):
    c = Conn(a.port, timeout=30.0)
    upto = a.keys if a.upto is None else a.upto
    keys = [key(i).decode() for i in range(upto)]
    vals = mget_all(c, keys)
    dbsize = c.call("DBSIZE")
    c.close()
    bad = []
    if a.round is None:
        for i, v in enumerate(vals):
            want = val(a.tag, i, a.vsize).decode()
            if v != want:
                bad.append("%s: got %r, want %r" % (keys[i], short(v), short(want)))
    else:
        new_tag = "%s.%d" % (a.tag, a.round)
        old_tag = "%s.%d" % (a.tag, a.round - 1) if a.round > 1 else a.prev
        for i, v in enumerate(vals):
            new = val(new_tag, i, a.vsize).decode()
            old = val(old_tag, i, a.vsize).decode()
            if i < a.acked:
                if v != new:
                    bad.append("%s: acknowledged write lost: got %r, want %r"
                               % (keys[i], short(v), short(new)))
            elif v not in (new, old):
                bad.append("%s: got %r, want %r or %r" % (keys[i], short(v), short(new), short(old)))
    if a.upto is None and dbsize != a.keys:
        bad.append("DBSIZE %r != %d" % (dbsize, a.keys))
    print("check: %d keys, %d bad" % (upto, len(bad)))
    for b in bad[:10]:
        print("check: " + b)
    sys.exit(1 if bad else 0)


# ---- killer ---------------------------------------------------------------

def cmd_killer(a):
    """SIGKILLs pid as soon as INFO persistence shows FIELD:1, or at the
    deadline; one connection, polled every millisecond."""
    deadline = time.monotonic() + a.max_ms / 1000.0
    polls, seen, how = 0, False, "at the deadline"
    try:
        c = Conn(a.port, timeout=5.0)
        needle = ("\r\n%s:" % a.field).encode()
        while time.monotonic() < deadline:
            r = c.call("INFO", "persistence")
            polls += 1
            if isinstance(r, bytes):
                i = r.find(needle)
                if i >= 0:
                    seen = True
                    if r[i + len(needle):i + len(needle) + 1] == b"1":
                        how = "during a compaction (%s:1)" % a.field
                        break
            time.sleep(0.001)
        c.close()
    except (Closed, OSError) as e:
        how = "after the server went away (%s)" % e
    try:
        os.kill(a.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    print("killer: killed %s after %d polls; field %s" % (how, polls, "present" if seen else "absent"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("load")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--state", required=True)
    s.add_argument("--round", type=int, required=True)
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--ready", help="file created once connected")
    s = sub.add_parser("verify")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--state", required=True)
    s.add_argument("--sticky-doubt", action="store_true",
                   help="in-flight writes stay in doubt for good (a "
                        "cluster: a partial write may surface later)")
    s.add_argument("--no-dbsize", action="store_true",
                   help="skip the DBSIZE check (a cluster counts each "
                        "partition at one replica, not by quorum)")
    for name in ("fill", "check"):
        s = sub.add_parser(name)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--keys", type=int, required=True)
        s.add_argument("--vsize", type=int, default=200)
        s.add_argument("--tag", required=True)
        if name == "fill":
            s.add_argument("--repeat", type=int, default=1)
            s.add_argument("--batch", type=int, default=256)
            s.add_argument("--progress")
            s.add_argument("--ready", help="file created once connected")
        else:
            s.add_argument("--round", type=int)
            s.add_argument("--acked", type=int, default=0)
            s.add_argument("--prev")
            s.add_argument("--upto", type=int)
    s = sub.add_parser("killer")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--max-ms", type=int, required=True)
    s.add_argument("--field", default="compaction_in_progress")
    a = p.parse_args()
    {"load": cmd_load, "verify": cmd_verify, "fill": cmd_fill, "check": cmd_check,
     "killer": cmd_killer}[a.cmd](a)


if __name__ == "__main__":
    main()
