"""workload.py -- the chaos suite's clients and the history they write.

A history is a list of events (dicts), one JSON object a line in
HISTORY/ops.jsonl, each with `t` (seconds since the run began), `type`
(invoke, ok, fail, info), `process` (the client), `f` and its arguments.
Types follow Jepsen: `ok` means the cluster acknowledged the op; `fail`
means it certainly did not happen; `info` means it may or may not have
(a NOQUORUM write may have reached some replicas, a timeout says nothing).

Workloads (each a function of one client's loop, chosen by name):

  set       Jepsen's shopping cart.  An add of element E to key K is
            DYNAMO.GET K (context + siblings), the union of the siblings'
            elements plus E, then DYNAMO.PUT K context union.  Siblings
            merge by union, so no acknowledged add may ever be lost.  The
            GET is recorded as a read of its own (f=read).
  register  the same add done with plain GET and SET: the value is one
            register, and last-writer-wins keeps one of two concurrent
            read-modify-writes.  What it loses is reported, not failed:
            that is the point of the workload.
  counter   INCRBY K 1 (f=incr): a counter merges (issue #14), so the
            final count lies between the acknowledged increments and
            those plus the indeterminate ones (info).
  sadd      SADD K E (f=add) on a set that merges (add-wins): no
            acknowledged add may be lost, as in the set workload, with no
            read and no context.
  hincr     HINCRBY K F 1 (f=incr, field F of four): each field counts
            as a counter does.
  srem      SADD K E of a new element (f=add), or SREM K E of one this
            client added (f=srem, its reply kept): an observed remove.
            SREM answering 1 saw E's only add, so E must be gone; 0 saw
            none, so E stays (add wins over a remove that missed it).

A set's value is its elements, sorted, joined by ",".  Elements are
"c<client>.<seq>", unique per run, so the checker knows who wrote what.

Threads: one per client; the History object is the only shared state
(a lock around append).  Clients pick a coordinator among `targets()`,
which the nemesis keeps to the members that should be running.
"""

import json
import random
import threading
import time

import redis

SET_KEYS = "set:%d"
REGISTER_KEYS = "reg:%d"


def encode(elements):
    return ",".join(sorted(elements)).encode()


def decode(value):
    if value is None:
        return set()
    if isinstance(value, bytes):
        value = value.decode()
    return set(e for e in value.split(",") if e)


class History:
    """Events in order of recording, mirrored to a file as they come."""

    def __init__(self, path, t0):
        self.t0 = t0
        self.events = []
        self.lock = threading.Lock()
        self.f = open(path, "w") if path else None

    def now(self):
        return round(time.monotonic() - self.t0, 4)

    def add(self, **ev):
        with self.lock:
            ev.setdefault("t", self.now())
            self.events.append(ev)
            if self.f:
                self.f.write(json.dumps(ev, sort_keys=True) + "\n")
                self.f.flush()
        return ev

    def close(self):
        if self.f:
            self.f.close()
            self.f = None


def classify_error(e):
    """fail when the write certainly did not happen, else info."""
    if isinstance(e, redis.ResponseError):
        msg = str(e)
        if msg.startswith(("KILLED", "too many siblings", "invalid context",
                           "ERR too many siblings", "ERR invalid context",
                           "LOADING")):
            return "fail"
    return "info"


class Client(threading.Thread):
    def __init__(self, cid, workload, cluster, history, targets, keys,
                 rate, seed, stop):
        super().__init__(name="client-%d" % cid, daemon=True)
        self.cid = cid
        self.workload = workload
        self.cluster = cluster
        self.history = history
        self.targets = targets
        self.keys = keys
        self.rate = rate
        self.rng = random.Random("%s/client/%d" % (seed, cid))
        self.stop = stop
        self.seq = 0
        self.conns = {}
        self.owned = {}         # the srem workload's elements, per key

    def conn(self, node):
        c = self.conns.get(node)
        if c is None:
            c = self.cluster.client(node, timeout=5.0)
            self.conns[node] = c
        return c

    def drop(self, node):
        c = self.conns.pop(node, None)
        if c is not None:
            c.close()

    def run(self):
        step = workload_step(self.workload)
        while not self.stop.is_set():
            nodes = self.targets()
            if not nodes:
                time.sleep(0.1)
                continue
            node = self.rng.choice(sorted(nodes))
            key = self.rng.choice(self.keys)
            self.seq += 1
            elem = "c%d.%d" % (self.cid, self.seq)
            try:
                step(self, node, key, elem)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.drop(node)
            if self.rate:
                self.stop.wait(1.0 / self.rate)
        for n in list(self.conns):
            self.drop(n)

    def add_op(self, f, node, key, elem, read_cmd, write):
        """One add: read (recorded as a read), then write."""
        h = self.history
        h.add(type="invoke", process=self.cid, f=f, key=key, value=elem,
              node=node)
        inv = h.now()
        try:
            got = self.conn(node).execute_command(*read_cmd)
        except Exception as e:
            h.add(type="fail", process=self.cid, f=f, key=key, value=elem,
                  node=node, error="read: %s" % e)
            if not isinstance(e, redis.ResponseError):
                self.drop(node)
            return
        seen, put = write(got)
        h.add(type="ok", process=self.cid, f="read", key=key,
              value=sorted(seen), node=node, invoked=inv)
        try:
            reply = self.conn(node).execute_command(*put(seen | {elem}))
            if reply not in (b"OK", "OK", True):
                raise redis.ResponseError("unexpected reply %r" % (reply,))
            h.add(type="ok", process=self.cid, f=f, key=key, value=elem,
                  node=node)
        except Exception as e:
            h.add(type=classify_error(e), process=self.cid, f=f, key=key,
                  value=elem, node=node, error=str(e))
            if not isinstance(e, redis.ResponseError):
                self.drop(node)


def set_add(client, node, key, elem):
    def write(got):
        ctx, values = got[0], got[1]
        seen = set()
        for v in values:
            seen |= decode(v)
        return seen, lambda s: ("DYNAMO.PUT", key, ctx, encode(s))
    client.add_op("add", node, key, elem, ("DYNAMO.GET", key), write)


def register_add(client, node, key, elem):
    def write(got):
        return decode(got), lambda s: ("SET", key, encode(s))
    client.add_op("add", node, key, elem, ("GET", key), write)


HASH_FIELDS = ("f0", "f1", "f2", "f3")


def one_write(client, node, key, elem, f, cmd, field=None, keep_reply=False):
    """One typed write, no read: invoke, then ok (with the integer reply
    when keep_reply) or what its error says."""
    h = client.history
    extra = {"field": field} if field is not None else {}
    h.add(type="invoke", process=client.cid, f=f, key=key, value=elem,
          node=node, **extra)
    try:
        reply = client.conn(node).execute_command(*cmd)
        if keep_reply:
            extra["reply"] = int(reply)
        h.add(type="ok", process=client.cid, f=f, key=key, value=elem,
              node=node, **extra)
    except Exception as e:
        h.add(type=classify_error(e), process=client.cid, f=f, key=key,
              value=elem, node=node, error=str(e), **extra)
        if not isinstance(e, redis.ResponseError):
            client.drop(node)


def counter_add(client, node, key, elem):
    one_write(client, node, key, elem, "incr", ("INCRBY", key, 1))


def sadd_add(client, node, key, elem):
    one_write(client, node, key, elem, "add", ("SADD", key, elem))


def srem_step(client, node, key, elem):
    """An add of a new element, or a remove of one of this client's."""
    owned = client.owned.setdefault(key, [])
    if owned and client.rng.random() < 0.3:
        gone = owned.pop(client.rng.randrange(len(owned)))
        one_write(client, node, key, gone, "srem", ("SREM", key, gone),
                  keep_reply=True)
        return
    one_write(client, node, key, elem, "add", ("SADD", key, elem))
    owned.append(elem)


def hincr_add(client, node, key, elem):
    field = client.rng.choice(HASH_FIELDS)
    one_write(client, node, key, elem, "incr", ("HINCRBY", key, field, 1),
              field=field)


WORKLOADS = {"set": set_add, "register": register_add, "counter": counter_add,
             "sadd": sadd_add, "hincr": hincr_add, "srem": srem_step}


def workload_step(name):
    return WORKLOADS[name]


def workload_keys(name, count):
    pattern = {"set": SET_KEYS, "register": REGISTER_KEYS,
               "counter": "ctr:%d", "sadd": "tset:%d",
               "hincr": "hash:%d", "srem": "oset:%d"}[name]
    return [pattern % k for k in range(count)]
