#!/usr/bin/python3
"""chaos.py -- a Jepsen-style run of Mini-Dynamo on network-namespace hosts.

    tests/chaos/chaos.py [--seed S] [--profile short|long] [--duration SEC]
                         [--nodes N] [--mix partition,delay,...]
                         [--no-membership] [--workload set=4,register=2]
                         [--history DIR] [--keep] [--pending CHECK,...]

A run, in order (each stage logged with its time):
  1. hosts: one namespace per node on a bridge (netns.py); this process
     moves into the client host, so every client and admin connection
     crosses the bridge, where nft can cut it;
  2. a cluster of --nodes nodes (N=3 R=2 W=2, storage disk, appendfsync
     always), waited on until every node sees every member up;
  3. the last-writer-wins self-test (lww_selftest): two read-modify-writes
     of one register through coordinators on the two sides of a partition,
     both acknowledged; after the heal the checker must report a lost
     acknowledged add, or it cannot see losses at all;
  4. clients (workload.py) and the nemesis (nemesis.py) together; the
     schedule comes from the seed alone;
  5. heal everything, then with NO client reads: convergence (every
     replica of every key holds the same value, polled through
     DYNAMO.LOCAL; the bound achieved is printed), then the checks of
     checker.py on the values the replicas hold and on the history, and
     placement (every key on exactly its N replicas of the final ring, no
     hint pending), polled to a deadline.

Checks listed in --pending are expected to fail until a fix lands: they
are printed as XFAIL (or XPASS) and do not fail the run.

The history (seed, schedule, ops.jsonl, nemesis steps, node logs,
summary.json) is kept under --history when a check fails or with --keep,
and the command that replays the same schedule is printed.

Exit: 0 all non-pending checks passed, 1 a check failed, 77 namespaces
cannot be made here (skip), 99 the harness itself failed.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker       # noqa: E402
import nemesis       # noqa: E402
import netns         # noqa: E402
import nodes         # noqa: E402
import workload      # noqa: E402

CHECKS = ["lww_selftest", "convergence", "lost", "phantom", "resurrected",
          "counts", "removes", "future", "stale", "placement", "sanitizer"]

PROFILES = {
    # about a minute and a half on a busy 2-CPU machine: every fault kind
    # once or more, and the membership steps of issue #13 item 8 that the
    # short run can afford (join, leave while cut off, rejoin empty).
    # durations and gaps: ranges in seconds; member_s: a membership step's
    # estimate in the schedule; *_s: deadlines of the polls.
    "short": {"duration": 34, "member_s": 4, "durations": (1.5, 3),
              "gaps": (0.5, 1), "keys": 24, "rate": 10,
              "membership": ["join", "leave", "rejoin_empty"],
              "converge_s": 90, "placement_s": 30, "wait_s": 45},
    # gaps longer than --settle leave calm windows, where stale reads count
    "long": {"duration": 600, "member_s": 20, "durations": (2, 8),
             "gaps": (2, 16), "keys": 32, "rate": 20,
             "membership": nemesis.MEMBERSHIP,
             "converge_s": 300, "placement_s": 120, "wait_s": 120},
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None,
                   help="fixes the schedule (default: random, printed)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="long",
                   help="durations, gaps, keys and deadlines (default long)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of nemesis (estimated from the schedule)")
    p.add_argument("--nodes", type=int, default=5,
                   help="nodes at the start (default 5)")
    p.add_argument("--mix", default=",".join(nemesis.FAULTS),
                   help="fault kinds, comma-separated (default: all of %s)"
                   % ",".join(nemesis.FAULTS))
    p.add_argument("--no-membership", action="store_true",
                   help="no join, leave, forget or rejoin steps")
    p.add_argument("--workload",
                   default="set=4,register=2,counter=2,sadd=2,hincr=2,srem=2",
                   help="name=clients,...: set, register, counter, sadd, "
                   "hincr, srem")
    p.add_argument("--keys", type=int, default=None,
                   help="keys per workload (default: the profile's)")
    p.add_argument("--rate", type=float, default=None,
                   help="ops per second per client")
    p.add_argument("--settle", type=float, default=8.0,
                   help="seconds after a step before a calm window")
    p.add_argument("--history", default=None,
                   help="directory of the run's history (default: a new one)")
    p.add_argument("--keep", action="store_true",
                   help="keep the history even when every check passed")
    p.add_argument("--pending", default="",
                   help="checks expected to fail (XFAIL), comma-separated")
    p.add_argument("--dynamod", default=os.environ.get("DYNAMOD"),
                   help="the dynamod binary (default: $DYNAMOD)")
    p.add_argument("--no-selftest", action="store_true",
                   help="skip the last-writer-wins self-test")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2**31)
    prof = PROFILES[a.profile]
    a.duration = a.duration if a.duration is not None else prof["duration"]
    a.keys = a.keys or prof["keys"]
    a.rate = a.rate if a.rate is not None else prof["rate"]
    a.mix = [m for m in a.mix.split(",") if m]
    a.pending = set(x for x in a.pending.split(",") if x)
    for x in a.pending:
        if x not in CHECKS:
            p.error("unknown check %s (one of %s)" % (x, ", ".join(CHECKS)))
    a.workloads = []
    for part in a.workload.split(","):
        name, _, count = part.partition("=")
        if name not in workload.WORKLOADS:
            p.error("unknown workload " + name)
        a.workloads.append((name, int(count or 1)))
    if not a.dynamod:
        p.error("no dynamod: pass --dynamod or set DYNAMOD")
    return a


def replay_command(a):
    return ("tools/chaos --seed %d --profile %s --duration %g --nodes %d "
            "--mix %s%s --workload %s --keys %d --rate %g" % (
                a.seed, a.profile, a.duration, a.nodes, ",".join(a.mix),
                " --no-membership" if a.no_membership else "",
                ",".join("%s=%d" % w for w in a.workloads), a.keys, a.rate))


class Run:
    def __init__(self, a):
        self.a = a
        self.prof = PROFILES[a.profile]
        self.t0 = time.monotonic()
        self.results = {}       # check -> (passed, detail)
        self.figures = {}

    def log(self, msg):
        line = "# [%7.2f] %s" % (time.monotonic() - self.t0, msg)
        print(line, flush=True)
        with open(os.path.join(self.dir, "run.log"), "a") as f:
            f.write(line + "\n")

    def result(self, check, passed, detail):
        self.results[check] = (passed, detail)
        pending = check in self.a.pending
        tag = {(True, False): "PASS", (False, False): "FAIL",
               (True, True): "XPASS", (False, True): "XFAIL"}[(passed, pending)]
        self.log("%s %s: %s" % (tag, check, detail))

    # ---- cluster ---------------------------------------------------------
    def start_cluster(self):
        a = self.a
        options = ["protected-mode no", "storage disk", "appendfsync always",
                   "n 3", "r 2", "w 2", "gossip-interval-ms 200",
                   "loglevel verbose"]
        self.cluster = nodes.Cluster(self.net, os.path.abspath(a.dynamod),
                                     self.dir, "chaos-%d-%d" % (
                                         a.seed, os.getpid()), options)
        initial = list(range(1, a.nodes + 1))
        for i in initial:
            self.cluster.write_conf(i, initial=initial)
        for i in initial:
            self.cluster.start(i)
        deadline = time.monotonic() + 60
        for i in initial:
            self.cluster.wait_ping(i, deadline)
        self.wait_whole(initial, 60)

    def wait_whole(self, members, deadline_s):
        """Every member sees every other member up; raises at the deadline."""
        names = {"n%d" % j for j in members}
        until = time.monotonic() + deadline_s
        while time.monotonic() < until:
            try:
                if all(all(s in ("up", "self") for n, s in
                           nodes.member_status(self.cluster, i).items()
                           if n in names) and
                       names <= set(nodes.member_status(self.cluster, i))
                       for i in members):
                    return time.monotonic() - (until - deadline_s)
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("members %s do not all see each other up" %
                           sorted(names))

    # ---- the last-writer-wins self-test ----------------------------------
    def lww_selftest(self):
        """Two concurrent read-modify-writes of a register through both
        sides of a partition, both acknowledged: after the heal, LWW keeps
        one, and the checker must see the other's add as lost."""
        c, net = self.cluster, self.net
        key = "lww:selftest"
        t0 = time.monotonic()
        hist = workload.History(os.path.join(self.dir, "lww_selftest.jsonl"),
                                self.t0)
        _, reps = nodes.preflist(c, 1, key)
        members = list(range(1, self.a.nodes + 1))
        a_side = [int(reps[0][1:])]
        b_side = [j for j in members if j not in a_side]
        # a's side: its first replica and one more; b's side: the rest
        a_side.append(b_side.pop(0))
        # logged as a nemesis step of the run's history: the clients that
        # start after it must not count on a calm window across it
        step = {"n": 0, "kind": "lww_selftest", "cuts": [a_side, b_side]}
        self.history.add(type="nemesis", process="nemesis", f=step["kind"],
                         phase="start", step=step)
        net.partition([a_side, b_side])
        self.log("lww selftest: key %s replicas %s, partition %s | %s" % (
            key, reps, a_side, b_side))

        def rmw(node, elem, pid):
            until = time.monotonic() + 60
            while time.monotonic() < until:
                hist.add(type="invoke", process=pid, f="add", key=key,
                         value=elem, node=node)
                try:
                    got = c.admin(node, "GET", key)
                    c.admin(node, "SET", key,
                            workload.encode(workload.decode(got) | {elem}))
                    hist.add(type="ok", process=pid, f="add", key=key,
                             value=elem, node=node)
                    return True
                except Exception as e:
                    hist.add(type=workload.classify_error(e), process=pid,
                             f="add", key=key, value=elem, node=node,
                             error=str(e))
                    elem = elem + "'"   # a new element for each attempt
                    time.sleep(0.3)
            return False
        ok_a = rmw(a_side[0], "a", "lww-a")
        ok_b = rmw(b_side[0], "b", "lww-b")
        net.heal()
        self.history.add(type="nemesis", process="nemesis", f=step["kind"],
                         phase="end", step=step)
        if not (ok_a and ok_b):
            hist.close()
            self.result("lww_selftest", False,
                        "the two writes were not both acknowledged "
                        "within 60 s (a=%s b=%s)" % (ok_a, ok_b))
            return
        # no client read: wait until the replicas agree
        until = time.monotonic() + 90
        copies = {}
        while time.monotonic() < until:
            copies = {r: self.local(int(r[1:]), key) for r in reps}
            if not checker.diverged({key: copies}):
                break
            time.sleep(0.3)
        # what a plain GET answers: the winning sibling (the loser stays
        # as a sibling until the next SET supersedes it)
        final = workload.decode(nodes.local_winner(c, int(reps[0][1:]), key))
        hist.close()
        res = checker.check_final(hist.events, {key: final})
        self.figures["lww_selftest_lost"] = len(res["lost"])
        self.result("lww_selftest", len(res["lost"]) >= 1,
                    "replicas hold %s; the checker reports %d lost "
                    "acknowledged add(s) %s (must be >= 1), in %.1f s" % (
                        sorted(final), len(res["lost"]), res["lost"],
                        time.monotonic() - t0))

    def local(self, i, key):
        try:
            return nodes.local_values(self.cluster, i, key)
        except Exception as e:
            return "error: %s" % e

    # ---- the run ---------------------------------------------------------
    def run_load(self):
        a, prof = self.a, self.prof
        membership = [] if a.no_membership else prof["membership"]
        steps, final_members = nemesis.make_schedule(
            a.seed, a.nodes, a.duration, a.mix, membership,
            prof["durations"], prof["gaps"], prof["member_s"])
        with open(os.path.join(self.dir, "schedule.json"), "w") as f:
            json.dump(steps, f, indent=1)
        self.log("schedule: %d steps (%s), final members %s" % (
            len(steps), ", ".join(s["kind"] for s in steps), final_members))
        self.nem = nemesis.Nemesis(self.cluster, self.net, self.history,
                                   range(1, a.nodes + 1), prof["wait_s"],
                                   self.log)
        stop = threading.Event()
        self.keys = []
        clients = []
        cid = 0
        for name, count in a.workloads:
            keys = workload.workload_keys(name, a.keys)
            self.keys += keys
            for _ in range(count):
                cid += 1
                clients.append(workload.Client(
                    cid, name, self.cluster, self.history, self.nem.targets,
                    keys, a.rate, a.seed, stop))
        self.client_workload = {cl.cid: cl.workload for cl in clients}
        for cl in clients:
            cl.start()
        sleep = time.sleep
        # a calm stretch first (the LWW self-test's partition has just
        # healed): a calm window where the stale-read rule applies
        sleep(self.a.settle + 4)
        for step in steps:
            sleep(step["gap"])
            try:
                self.nem.run_step(step, sleep)
            except Exception as e:
                self.log("nemesis step %d (%s) raised: %s" % (
                    step["n"], step["kind"], e))
                self.history.add(type="nemesis", process="nemesis",
                                 f=step["kind"], phase="end",
                                 step={"n": step["n"]}, outcome="error: %s" % e)
        sleep(2)
        stop.set()
        for cl in clients:
            cl.join(30)
        self.t_end = self.history.now()
        self.final_members = sorted(self.nem.members)

    # ---- after the heal --------------------------------------------------
    def ring_settled(self):
        rings = [nodes.ring_members(self.cluster, i)
                 for i in self.final_members]
        return all(r == rings[0] for r in rings), rings[0]

    def check(self):
        c = self.cluster
        self.nem.heal_all()
        t_heal = time.monotonic()
        self.log("healed; final members %s" % self.final_members)
        # the final ring: every member holds the same one
        until = time.monotonic() + self.prof["wait_s"]
        settled, ring = False, None
        while time.monotonic() < until:
            try:
                settled, ring = self.ring_settled()
                if settled:
                    break
            except Exception:
                pass
            time.sleep(0.3)
        self.log("ring %s (epoch %s), %s" % (
            sorted(ring[0]) if ring else None, ring[1] if ring else None,
            "the same on every member" if settled else "NOT settled"))
        anchor = self.final_members[0]
        replicas = {k: nodes.preflist(c, anchor, k)[1] for k in self.keys}

        # convergence, with no client reads
        copies = {}
        bound = None
        until = time.monotonic() + self.prof["converge_s"]
        while time.monotonic() < until:
            copies = {k: {r: self.local(int(r[1:]), k) for r in reps}
                      for k, reps in replicas.items()}
            if not checker.diverged(copies):
                bound = time.monotonic() - t_heal
                break
            time.sleep(0.5)
        bad = checker.diverged(copies)
        self.figures["convergence_s"] = bound
        self.result("convergence", bound is not None,
                    "every replica of %d keys equal %.1f s after the heal" % (
                        len(copies), bound) if bound is not None else
                    "%d of %d keys still differ after %d s: %s" % (
                        len(bad), len(copies), self.prof["converge_s"],
                        "; ".join("%s %s" % (k, {n: (v if isinstance(v, str)
                                                     else None if v is None
                                                     else len(v))
                                                 for n, v in copies[k].items()})
                                  for k in bad[:5])))

        # what the replicas hold: the union over every replica's siblings
        final = {}
        for k, per in copies.items():
            if not k.startswith("set:"):
                continue
            s = set()
            for v in per.values():
                if isinstance(v, list):
                    for x in v:
                        s |= workload.decode(x)
            final[k] = s
        evs = self.history.events
        # typed sets (sadd) read as SMEMBERS answers; the set workload's
        # keys as the union of their siblings' elements
        for k in self.keys:
            if k.startswith(("tset:", "oset:")):
                try:
                    final[k] = set(m.decode() for m in
                                   c.admin(anchor, "SMEMBERS", k))
                except Exception as e:
                    self.log("SMEMBERS %s: %s" % (k, e))
                    final[k] = set()
        set_keys = {k for k in self.keys if k.startswith(("set:", "tset:"))}
        count_keys = {k for k in self.keys if k.startswith(("ctr:", "hash:"))}
        for_set = [e for e in evs if e.get("key") in set_keys]
        for_reg = [e for e in evs if e.get("key") is not None and
                   e["key"].startswith("reg:")]
        res = checker.check_final(for_set, {k: final[k] for k in set_keys})
        ops = [e for e in for_set if e["type"] != "invoke" and
               e.get("f") == "add"]
        self.figures.update({
            "set_adds_acked": res["acked"],
            "set_adds_info": sum(1 for e in ops if e["type"] == "info"),
            "set_adds_failed": sum(1 for e in ops if e["type"] == "fail"),
            "set_elements_present": res["present"]})
        self.log("set: %d adds acknowledged, %d indeterminate, %d failed; "
                 "%d elements present" % (
                     res["acked"], self.figures["set_adds_info"],
                     self.figures["set_adds_failed"], res["present"]))
        for name in ("lost", "phantom", "resurrected"):
            self.result(name, not res[name], "%d %s" % (
                len(res[name]), res[name][:10]))
        if count_keys:
            self.check_counts(anchor, count_keys, evs)
        rem_keys = {k for k in self.keys if k.startswith("oset:")}
        if rem_keys:
            rr = checker.check_removes(
                [e for e in evs if e.get("key") in rem_keys],
                {k: final[k] for k in rem_keys})
            self.figures["removes_acked"] = rr["acked_removes"]
            self.figures["removes_that_missed_the_add"] = rr["missed_removes"]
            self.result("removes", not rr["bad"], "%d elements where the "
                        "history rules out what is there (%d removes "
                        "acknowledged, %d of them saw no add): %s" % (
                            len(rr["bad"]), rr["acked_removes"],
                            rr["missed_removes"], rr["bad"][:5]))
        if for_reg:
            # a register's value is what GET answers: the winning sibling
            winners = {}
            for k in self.keys:
                if k.startswith("reg:"):
                    try:
                        winners[k] = workload.decode(nodes.local_winner(
                            c, int(replicas[k][0][1:]), k))
                    except Exception:
                        winners[k] = set()
            lww = checker.check_final(for_reg, winners)
            self.figures["register_adds_acked"] = lww["acked"]
            self.figures["register_lww_lost"] = len(lww["lost"])
            self.log("register (LWW, a figure): %d of %d acknowledged adds "
                     "lost by last-writer-wins" % (len(lww["lost"]),
                                                    lww["acked"]))

        # reads that go back in time (the set workload's reads)
        steps = []
        starts = {}
        for e in evs:
            if e["type"] == "nemesis":
                n = e["step"]["n"]
                if e["phase"] == "start":
                    starts[n] = e["t"]
                else:
                    steps.append((starts.pop(n, e["t"]), e["t"]))
        windows = checker.calm_windows(steps, self.a.settle, self.t_end)
        rd = checker.check_reads(for_set, windows)
        self.figures["reads"] = rd["reads"]
        self.figures["stale_reads_allowed"] = rd["stale_allowed"]
        self.figures["calm_windows_s"] = round(sum(b - a for a, b in windows), 1)
        self.result("future", not rd["future"], "%d of %d reads %s" % (
            len(rd["future"]), rd["reads"],
            [(f["read"]["key"], f["element"], f["read"]["t"])
             for f in rd["future"][:5]]))
        self.result("stale", not rd["stale"],
                    "%d reads missed an add acknowledged in the same calm "
                    "window (%s); %d misses outside calm windows allowed "
                    "(sloppy quorum); calm windows %.1f s of %.1f" % (
                        len(rd["stale"]),
                        ["%s misses %s (acked %.2f via n%s), read %.2f via "
                         "n%s" % (s["read"]["key"], s["element"],
                                  s["add"]["acked"], self.add_node(s["element"]),
                                  s["read"]["t"], s["read"]["node"])
                         for s in rd["stale"][:5]],
                        rd["stale_allowed"], self.figures["calm_windows_s"],
                        self.t_end))

        # a read back with R=N, now that convergence was measured
        mism = []
        for k in sorted(k for k in set_keys if k.startswith("set:")):
            try:
                got = c.admin(anchor, "DYNAMO.GET", k, "R", 3)
                s = set()
                for v in got[1]:
                    s |= workload.decode(v)
                if s != final[k]:
                    mism.append(k)
            except Exception as e:
                mism.append("%s (%s)" % (k, e))
        self.log("read back with R=3: %s" % (
            "every set key equals its replicas' union" if not mism else
            "differs for %s" % mism))

        self.check_placement(replicas)

    def check_counts(self, anchor, count_keys, evs):
        """Counters and hash fields: each read back (R=2 after convergence)
        lies between its acknowledged and its possible increments."""
        c = self.cluster
        final = {}
        for k in sorted(count_keys):
            try:
                if k.startswith("ctr:"):
                    v = c.admin(anchor, "GET", k)
                    final[(k, None)] = int(v) if v is not None else 0
                else:
                    # redis-py answers HGETALL as a dict
                    for f, v in c.admin(anchor, "HGETALL", k).items():
                        final[(k, f.decode())] = int(v)
            except Exception as e:
                self.log("reading %s: %s" % (k, e))
                final[(k, "unreadable")] = -1
        res = checker.check_counts(
            [e for e in evs if e.get("key") in count_keys], final)
        self.figures.update({"increments_acked": res["acked"],
                             "increments_info": res["info"]})
        self.log("counters and hash fields: %d increments acknowledged, %d "
                 "indeterminate, %d counts read" % (res["acked"], res["info"],
                                                    len(final)))
        self.result("counts", not res["bad"], "%d of %d counts outside "
                    "[acknowledged, acknowledged + indeterminate]: %s" % (
                        len(res["bad"]), len(final), res["bad"][:5]))

    def add_node(self, elem):
        """The coordinator an add was sent to."""
        for e in self.history.events:
            if e.get("f") == "add" and e.get("value") == elem:
                return e.get("node")
        return None

    def check_placement(self, replicas):
        c = self.cluster
        t0 = time.monotonic()
        until = t0 + self.prof["placement_s"]
        while True:
            holders = {}
            hints = {}
            for i in self.final_members:
                for k in replicas:
                    v = self.local(i, k)
                    if v:           # a live copy (a list of values)
                        holders.setdefault(k, set()).add("n%d" % i)
                try:
                    hp = int(c.info(i).get("hints_pending", "0"))
                except Exception as e:
                    hp = "error: %s" % e
                if hp:
                    try:    # whom the hints are for: [owner, count, bytes]
                        owners = {o[0].decode(): o[1] for o in
                                  c.admin(i, "DYNAMO.HINTS")}
                    except Exception:
                        owners = hp
                    hints["n%d" % i] = owners
            off = checker.placement_offenders(holders, replicas)
            if (not off and not hints) or time.monotonic() >= until:
                break
            time.sleep(1)
        detail = ("every key on exactly its N replicas, no hint pending, "
                  "%.1f s after convergence" % (time.monotonic() - t0)
                  if not off and not hints else
                  "after %d s: %d of %d keys misplaced (extra copies per "
                  "node %s, missing %s) %s; hints pending (holder: {owner: "
                  "count}) %s" % (
                      self.prof["placement_s"], len(off), len(replicas),
                      count_by_node(o[1] for o in off),
                      count_by_node(o[2] for o in off),
                      ["%s extra=%s missing=%s" % o for o in off[:8]], hints))
        self.result("placement", not off and not hints, detail)

    def sanitizer_check(self):
        """An --enable-asan build reports on the nodes' stderr."""
        found = []
        for n in self.cluster.nodes.values():
            p = os.path.join(n.dir, "stdout.log")
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text = f.read()
                if re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:",
                             text):
                    found.append(n.name)
        self.result("sanitizer", not found,
                    "reports in the stdout.log of %s" % found if found else
                    "no sanitizer report from any node")

    def failed(self):
        return [k for k, (ok, _) in self.results.items()
                if not ok and k not in self.a.pending]

    def save(self):
        for i, n in self.cluster.nodes.items():
            for f in ("dynamod.log", "stdout.log", "dynamod.conf"):
                p = os.path.join(n.dir, f)
                if os.path.exists(p):
                    shutil.copy(p, os.path.join(self.dir, "logs",
                                                "%s.%s" % (n.name, f)))
        with open(os.path.join(self.dir, "summary.json"), "w") as f:
            json.dump({"seed": self.a.seed, "replay": replay_command(self.a),
                       "results": {k: {"passed": ok, "detail": d}
                                   for k, (ok, d) in self.results.items()},
                       "pending": sorted(self.a.pending),
                       "figures": self.figures}, f, indent=1)


def count_by_node(lists):
    out = {}
    for names in lists:
        for n in names:
            out[n] = out.get(n, 0) + 1
    return dict(sorted(out.items()))


def main(argv):
    a = parse_args(argv)
    why = netns.can_create()
    if why:
        print("SKIP: chaos suite needs network namespaces: %s" % why)
        return 77
    made_dir = a.history is None
    hdir = a.history or tempfile.mkdtemp(prefix="dynchaos-%d-" % a.seed)
    os.makedirs(os.path.join(hdir, "logs"), exist_ok=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    run = Run(a)
    run.dir = hdir
    run.net = None
    run.cluster = None
    run.history = None
    rc = 99
    try:
        run.log("seed %d, profile %s, history in %s" % (a.seed, a.profile,
                                                        hdir))
        run.log("replay: " + replay_command(a))
        run.net = netns.Net()
        run.net.enter_client()
        run.start_cluster()
        run.history = workload.History(os.path.join(hdir, "ops.jsonl"),
                                       run.t0)
        run.log("cluster of %d nodes on %s.1-%d, every member up" % (
            a.nodes, run.net.base, a.nodes))
        if not a.no_selftest:
            run.lww_selftest()
        run.run_load()
        run.check()
        rc = 1 if run.failed() else 0
    except KeyboardInterrupt as e:
        run.log("interrupted: %s" % e)
        rc = 99
    except Exception:
        run.log("harness error:\n" + traceback.format_exc())
        rc = 99
    finally:
        # a second signal must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if run.history:
            run.history.close()
        if run.cluster:
            run.cluster.stop_all()
            if rc in (0, 1):
                run.sanitizer_check()
                rc = 1 if run.failed() else rc
            try:
                run.save()
            except Exception:
                traceback.print_exc()
        if run.net:
            run.net.close()
    xfail = [k for k, (ok, _) in run.results.items()
             if not ok and k in a.pending]
    xpass = [k for k, (ok, _) in run.results.items()
             if ok and k in a.pending]
    print("# figures: %s" % json.dumps(run.figures, sort_keys=True))
    if xfail:
        print("# expected failures (pending a fix): %s" % ", ".join(xfail))
    if xpass:
        print("# XPASS: %s passed in this run though pending a fix; take "
              "them off the pending list once the fix has landed" %
              ", ".join(xpass))
    if rc != 0 or a.keep or (xfail and made_dir):
        print("# history kept in %s" % hdir)
        print("# replay: %s --history DIR" % replay_command(a))
    elif made_dir:
        shutil.rmtree(hdir, ignore_errors=True)
    print("# %s" % ("PASS" if rc == 0 else "FAIL: %s" % ", ".join(
        run.failed()) if rc == 1 else "ERROR (harness)"))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
