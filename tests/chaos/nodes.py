"""nodes.py -- dynamod processes on the chaos suite's hosts.

Each node nI runs in host I's namespace (netns.Net), bound to its one
address, client port 7000 and peer port 17000 (every host has an address of
its own, so the ports are fixed).  Its state lives in WORK/nI: dynamod.conf,
data/ and dynamod.log.

Invariants:
  - Only processes started here are signalled, by the PID Popen returned
    (`ip netns exec` execs dynamod in place, so that PID is dynamod's).
  - A node of the initial ring is configured with cluster-node lines of the
    initial members; a joiner (and a node that left and comes back empty)
    with seed lines to the current members instead, so it enters by a join.
  - stop_all() SIGCONTs paused nodes before it stops them, and SIGKILLs
    what has not exited within a deadline.

Every call that talks to a node goes through admin(), with a socket timeout,
from the harness's thread (which lives in the client host).
"""

import os
import shutil
import signal
import subprocess
import time

import redis

PORT = 7000


class Node:
    def __init__(self, index, addr, dirpath):
        self.index = index
        self.name = "n%d" % index
        self.addr = addr
        self.dir = dirpath
        self.proc = None
        self.paused = False
        self.initial = False    # one of the cluster-node lines

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, net, dynamod, work, secret, options):
        self.net = net
        self.dynamod = dynamod
        self.work = work
        self.secret = secret
        self.options = options          # extra config lines
        self.nodes = {}                 # index -> Node

    def node(self, i):
        if i not in self.nodes:
            self.net.host(i)
            self.nodes[i] = Node(i, self.net.addr(i),
                                 os.path.join(self.work, "n%d" % i))
        return self.nodes[i]

    def write_conf(self, i, initial=None, seeds=None):
        """Node i's config: cluster-node lines for the initial members
        (initial, a list of indices), or seed lines (seeds) for a joiner."""
        n = self.node(i)
        os.makedirs(os.path.join(n.dir, "data"), exist_ok=True)
        lines = ["node-name %s" % n.name, "bind %s" % n.addr,
                 "port %d" % PORT, "dir %s" % os.path.join(n.dir, "data"),
                 "logfile %s" % os.path.join(n.dir, "dynamod.log"),
                 "cluster-secret %s" % self.secret]
        for j in initial or []:
            lines.append("cluster-node n%d %s:%d" % (j, self.net.addr(j), PORT))
        for j in seeds or []:
            lines.append("seed %s:%d" % (self.net.addr(j), PORT))
        lines += self.options
        path = os.path.join(n.dir, "dynamod.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        n.initial = bool(initial)

    def start(self, i):
        n = self.node(i)
        assert not n.alive(), "%s is running" % n.name
        out = open(os.path.join(n.dir, "stdout.log"), "ab")
        n.proc = subprocess.Popen(
            self.net.exec_args(i) + [self.dynamod,
                                     os.path.join(n.dir, "dynamod.conf")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        n.paused = False

    def wait_ping(self, i, deadline):
        n = self.node(i)
        while time.monotonic() < deadline:
            if not n.alive():
                raise RuntimeError("%s exited: %s" % (n.name, self.log_tail(i)))
            try:
                if self.admin(i, "PING") in (b"PONG", "PONG", True):
                    return
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError("%s does not answer PING" % n.name)

    def kill9(self, i):
        n = self.node(i)
        if n.alive():
            n.proc.send_signal(signal.SIGKILL)
            n.proc.wait()
        n.paused = False

    def pause(self, i):
        self.node(i).proc.send_signal(signal.SIGSTOP)
        self.node(i).paused = True

    def resume(self, i):
        n = self.node(i)
        if n.alive() and n.paused:
            n.proc.send_signal(signal.SIGCONT)
        n.paused = False

    def wipe(self, i):
        """Removes node i's data dir (the node must be stopped)."""
        n = self.node(i)
        assert not n.alive()
        shutil.rmtree(os.path.join(n.dir, "data"), ignore_errors=True)
        os.makedirs(os.path.join(n.dir, "data"))

    def stop(self, i, grace=10.0):
        n = self.node(i)
        if not n.alive():
            return
        self.resume(i)
        n.proc.send_signal(signal.SIGTERM)
        try:
            n.proc.wait(grace)
        except subprocess.TimeoutExpired:
            n.proc.send_signal(signal.SIGKILL)
            n.proc.wait()

    def stop_all(self):
        for i in list(self.nodes):
            try:
                self.stop(i)
            except Exception:   # cleanup goes on whatever one node does
                pass

    def client(self, i, timeout=5.0):
        return redis.Redis(host=self.node(i).addr, port=PORT,
                           socket_timeout=timeout, socket_connect_timeout=2,
                           retry_on_timeout=False)

    def admin(self, i, *args, timeout=5.0):
        c = self.client(i, timeout)
        try:
            return c.execute_command(*args)
        finally:
            c.close()

    def info(self, i, section="dynamo"):
        raw = self.admin(i, "INFO", section)
        if isinstance(raw, dict):
            return {k: str(v) for k, v in raw.items()}
        out = {}
        for line in raw.decode().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k] = v.strip()
        return out

    def log_tail(self, i, lines=30):
        n = self.node(i)
        text = []
        for f in ("dynamod.log", "stdout.log"):
            p = os.path.join(n.dir, f)
            if os.path.exists(p):
                with open(p, errors="replace") as fh:
                    text += fh.readlines()[-lines:]
        return "".join(text)


def pairs(flat):
    """A RESP2 map rendered as a flat list -> dict with str keys."""
    if isinstance(flat, dict):
        return {(k.decode() if isinstance(k, bytes) else k): v
                for k, v in flat.items()}
    return {(flat[i].decode() if isinstance(flat[i], bytes) else flat[i]):
            flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def ring_members(cluster, i):
    """The node names in node i's ring, and its epoch."""
    r = pairs(cluster.admin(i, "DYNAMO.RING"))
    return {row[0].decode() for row in r["nodes"]}, r["epoch"]


def preflist(cluster, i, key):
    """(partition, [replica names]) of key in node i's ring."""
    r = pairs(cluster.admin(i, "DYNAMO.PREFLIST", key))
    return r["partition"], [row[0].decode() for row in r["replicas"]]


def member_status(cluster, i):
    """name -> status in node i's member table."""
    out = {}
    for row in cluster.admin(i, "DYNAMO.MEMBERS")[1:]:
        m = pairs(row)
        out[m["name"].decode()] = m["status"].decode()
    return out


def local_values(cluster, i, key):
    """The live sibling values node i stores for key (sorted), or None when
    it stores nothing (no object, or only tombstones)."""
    sibs = [pairs(s) for s in cluster.admin(i, "DYNAMO.LOCAL", key)]
    vals = sorted(s["value"] for s in sibs if not s["tombstone"])
    return vals if sibs else None


def local_winner(cluster, i, key):
    """The value a plain GET would answer from node i's copy (the winning
    sibling's), or None."""
    for s in cluster.admin(i, "DYNAMO.LOCAL", key):
        s = pairs(s)
        if s["winner"] and not s["tombstone"]:
            return s["value"]
    return None
