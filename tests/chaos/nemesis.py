"""nemesis.py -- what the chaos suite breaks, when, and how it mends it.

Two halves:

  make_schedule(seed, ...)  pure: the list of steps, drawn from a
      random.Random seeded by the run's seed alone.  It follows the member
      set as the steps change it (joins, leaves, forgets), so every target
      is decided here, and the same seed gives the same schedule whatever
      the timing of the run.
  Nemesis.run_step(step)    applies one step, waits its duration, mends
      it, and logs `nemesis` events (phase start, end) with their times to
      the history.  Steps run one at a time: a step heals what it broke
      before the next begins, except kill_forget and leave, which change
      the members for good.

Step kinds (the `mix`):
  partition  nft cuts, shape halves | isolate | oneway | bridge | ring
             (bridge: two halves and one node that sees both; ring: each
             node sees only its neighbours, a majority of its own)
  delay      DYNAMO.FAULT a b DELAY ms BOTH (tc netem is not available)
  kill9      kill -9, restart after the duration
  pause      SIGSTOP, SIGCONT after the duration
  dkill      DYNAMO.KILL on the node, DYNAMO.REVIVE after the duration
  wipe       kill -9, remove its data dir, restart empty (same name, same
             config: it is still a member)
Membership (in this order, spread over the run when enabled):
  join             node 6 joins (seed lines)
  kill_forget      kill -9 a member, DYNAMO.FORGET it elsewhere
  leave            DYNAMO.LEAVE on a member while nft cuts it off from one
                   other member for the step's duration; the leaver is
                   stopped once out of every ring
  join_partitioned node 7 joins while one member is cut off (from the
                   others and the joiner) for the step's duration
  rejoin_empty     the node that left starts again, empty, as a joiner
                   (seed lines), and is sent DYNAMO.JOIN

Waits are polls with deadlines; a wait that runs out is logged
(outcome "timeout") and the run goes on: the checker judges the end state.
"""

import random
import time

import redis

import nodes as nodes_mod

FAULTS = ["partition", "delay", "kill9", "pause", "dkill", "wipe"]
SHAPES = ["halves", "isolate", "oneway", "bridge", "ring"]
MEMBERSHIP = ["join", "kill_forget", "leave", "join_partitioned",
              "rejoin_empty"]


def partition_cuts(rng, shape, members):
    """Directed (a, b) pairs to cut for a partition of the given shape."""
    m = sorted(members)
    rng.shuffle(m)
    cuts = []

    def between(g, h):
        for a in g:
            for b in h:
                cuts.extend([(a, b), (b, a)])
    if shape == "halves":
        k = len(m) // 2
        between(m[:k], m[k:])
    elif shape == "isolate":
        between(m[:1], m[1:])
    elif shape == "oneway":
        cuts.extend((m[0], b) for b in m[1:])   # m[0] sends, nobody hears
    elif shape == "bridge":
        k = (len(m) - 1) // 2
        between(m[1:1 + k], m[1 + k:])          # m[0] sees both sides
    elif shape == "ring":
        n = len(m)
        for i in range(n):
            for j in range(i + 1, n):
                d = min(j - i, n - (j - i))
                if d > 1:
                    cuts.extend([(m[i], m[j]), (m[j], m[i])])
    return sorted(set(cuts))


def make_schedule(seed, initial, duration, mix, membership, durations=(2, 6),
                  gaps=(1, 3), member_s=20):
    """The run's steps.  duration bounds the sum of the estimated step
    times (faults: dur + gap; membership steps member_s each).  Fault
    kinds are dealt like cards: each kind of the mix once, in an order
    drawn from the seed, then again, so a short run sees every kind.
    membership: the membership kinds to include (in MEMBERSHIP's order;
    rejoin_empty only after a leave)."""
    rng = random.Random("%s/schedule" % seed)
    members = list(range(1, initial + 1))
    next_node = initial + 1
    plan = [k for k in MEMBERSHIP if k in membership]
    budget = float(duration)
    per_fault = sum(durations) / 2 + sum(gaps) / 2
    n_faults = max(len(plan), 1,
                   int((budget - member_s * len(plan)) / per_fault))
    # membership steps at evenly spread positions among the faults
    slots = {}
    for k, kind in enumerate(plan):
        slots[(k + 1) * n_faults // (len(plan) + 1) + k] = kind
    steps = []
    left = None
    total = n_faults + len(plan)
    fault_kinds = [f for f in mix if f in FAULTS]
    deck = []
    for pos in range(total):
        step = {"n": pos + 1,
                "gap": round(rng.uniform(*gaps), 2),
                "dur": round(rng.uniform(*durations), 2)}
        kind = slots.get(pos)
        if kind is None:
            if not fault_kinds:
                continue
            if not deck:
                deck = list(fault_kinds)
                rng.shuffle(deck)
            kind = deck.pop()
        step["kind"] = kind
        others = sorted(members)
        if kind == "partition":
            step["shape"] = rng.choice(SHAPES)
            step["cuts"] = partition_cuts(rng, step["shape"], members)
        elif kind == "delay":
            a, b = rng.sample(others, 2)
            step.update({"from": a, "to": b, "ms": rng.choice([100, 300, 800])})
        elif kind in ("kill9", "pause", "dkill", "wipe"):
            step["node"] = rng.choice(others)
        elif kind in ("join", "join_partitioned"):
            step["node"] = next_node
            step["seeds"] = others
            if kind == "join_partitioned":
                # one member cut off from the others and from the joiner
                z = rng.choice(others)
                step["cuts"] = sorted(
                    c for o in others + [next_node] if o != z
                    for c in ((z, o), (o, z)))
            members.append(next_node)
            next_node += 1
        elif kind == "kill_forget":
            x = rng.choice(others)
            members.remove(x)
            step.update({"node": x, "via": rng.choice(sorted(members))})
        elif kind == "leave":
            x = rng.choice(others)
            members.remove(x)
            left = x
            # one member is cut off from the leaver while it leaves (the
            # case of issue #13 item 8: hints owed to a node that left)
            step.update({"node": x, "cut_from": rng.choice(sorted(members))})
        elif kind == "rejoin_empty":
            if left is None:
                raise ValueError("rejoin_empty needs a leave before it")
            step["node"] = left
            step["seeds"] = others
            members.append(left)
        steps.append(step)
    return steps, sorted(members)


def members_after(steps, initial):
    members = set(range(1, initial + 1))
    for s in steps:
        if s["kind"] in ("join", "join_partitioned", "rejoin_empty"):
            members.add(s["node"])
        elif s["kind"] in ("kill_forget", "leave"):
            members.discard(s["node"])
    return members


class Nemesis:
    def __init__(self, cluster, net, history, members, wait_s, log):
        self.cluster = cluster
        self.net = net
        self.history = history
        self.members = set(members)   # nodes in (or entering) the ring
        self.dead = set()             # members deliberately not running
        self.wait_s = wait_s          # deadline of a membership wait
        self.log = log

    def targets(self):
        """Nodes the clients may use as coordinators."""
        return {i for i in self.members - self.dead
                if self.cluster.node(i).alive()}

    def any_live(self, but=()):
        live = sorted(self.targets() - set(but))
        return live[0] if live else None

    def event(self, step, phase, **kw):
        ev = {k: v for k, v in step.items() if k not in ("gap", "dur")}
        ev.update(kw)
        self.history.add(type="nemesis", process="nemesis", f=step["kind"],
                         phase=phase, step=ev)
        self.log("nemesis %s %s %s" % (phase, step["kind"], kw or
                 {k: v for k, v in ev.items() if k not in ("kind", "n")}))

    def poll(self, cond, deadline_s):
        """True once cond() holds, False at the deadline."""
        until = time.monotonic() + deadline_s
        while time.monotonic() < until:
            try:
                if cond():
                    return True
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.2)
        return False

    def restart(self, i):
        c = self.cluster
        c.start(i)
        c.wait_ping(i, time.monotonic() + 60)

    def in_rings(self, name, want):
        """name is (want=True) / is not (want=False) in every live ring."""
        for i in self.targets():
            if (name in nodes_mod.ring_members(self.cluster, i)[0]) != want:
                return False
        return True

    def seen_as(self, i):
        """How the other live members see node i: {status: [viewers]}."""
        out = {}
        for j in sorted(self.targets() - {i}):
            try:
                st = nodes_mod.member_status(self.cluster, j).get(
                    "n%d" % i, "unknown")
            except (redis.RedisError, OSError):
                st = "error"
            out.setdefault(st, []).append("n%d" % j)
        return out

    def run_step(self, step, sleep):
        kind = step["kind"]
        c = self.cluster
        self.event(step, "start")
        outcome = "ok"
        if kind == "partition":
            for a, b in step["cuts"]:
                self.net.cut(a, b)
            sleep(step["dur"])
            self.net.heal()
        elif kind == "delay":
            node = self.any_live()
            c.admin(node, "DYNAMO.FAULT", "n%d" % step["from"],
                    "n%d" % step["to"], "DELAY", step["ms"], "BOTH")
            sleep(step["dur"])
            for i in self.targets():
                c.admin(i, "DYNAMO.FAULT", "CLEAR", "ALL")
                break
        elif kind == "kill9":
            c.kill9(step["node"])
            sleep(step["dur"])
            self.restart(step["node"])
        elif kind == "pause":
            c.pause(step["node"])
            sleep(step["dur"])
            c.resume(step["node"])
        elif kind == "dkill":
            c.admin(step["node"], "DYNAMO.KILL")
            sleep(step["dur"])
            c.admin(step["node"], "DYNAMO.REVIVE")
        elif kind == "wipe":
            c.kill9(step["node"])
            c.wipe(step["node"])
            sleep(step["dur"])
            self.restart(step["node"])
        elif kind in ("join", "join_partitioned", "rejoin_empty"):
            i = step["node"]
            c.node(i)           # its host exists before any cut names it
            if kind == "rejoin_empty":
                c.wipe(i)
            if kind == "join_partitioned":
                for a, b in step["cuts"]:
                    self.net.cut(a, b)
            live_seeds = [s for s in step["seeds"] if s in self.targets()]
            c.write_conf(i, seeds=live_seeds)
            self.members.add(i)
            self.restart(i)
            if kind == "rejoin_empty" and live_seeds:
                # a node the cluster holds as left stays out until it is
                # told to join (the membership fix of issue #13 item 8);
                # before that fix, its seed lines alone drove it in, and
                # this JOIN may be refused as redundant: logged either way
                try:
                    reply = c.admin(i, "DYNAMO.JOIN", "%s:%d" % (
                        c.node(live_seeds[0]).addr, nodes_mod.PORT))
                except redis.ResponseError as e:
                    reply = "error: %s" % e
                outcome += " (DYNAMO.JOIN: %s)" % reply
            if kind == "join_partitioned":
                # the join runs under the partition for the step's
                # duration; the cut-off member can only learn of it after
                sleep(step["dur"])
                self.net.heal()
            if not self.poll(lambda: self.in_rings("n%d" % i, True),
                             self.wait_s):
                outcome = "timeout"
            outcome += "; seen as %s" % self.seen_as(i)
        elif kind == "kill_forget":
            x, via = step["node"], step["via"]
            c.kill9(x)
            self.dead.add(x)
            self.members.discard(x)
            self.poll(lambda: nodes_mod.member_status(c, via).get(
                "n%d" % x) == "down", self.wait_s)
            reply = c.admin(via, "DYNAMO.FORGET", "n%d" % x)
            if not self.poll(lambda: self.in_rings("n%d" % x, False),
                             self.wait_s):
                outcome = "timeout"
            outcome += " (FORGET: %s)" % reply
        elif kind == "leave":
            x = step["node"]
            y = step.get("cut_from")
            if y is not None and y in self.targets():
                self.net.cut_both(x, y)
            c.admin(x, "DYNAMO.LEAVE")
            sleep(step["dur"])
            self.net.heal()
            ok = self.poll(lambda: self.in_rings("n%d" % x, False),
                           self.wait_s)
            self.members.discard(x)
            c.stop(x)
            outcome = "ok" if ok else "timeout"
        self.event(step, "end", outcome=outcome)
        return outcome

    def heal_all(self):
        """Mends everything before the checks: links, node faults, paused
        and DYNAMO.KILLed nodes, members that are not running."""
        self.net.heal()
        c = self.cluster
        for i in sorted(self.members):
            c.resume(i)
            if not c.node(i).alive():
                self.restart(i)
        for i in sorted(self.members):
            for cmd in (("DYNAMO.FAULT", "CLEAR"), ("DYNAMO.REVIVE",)):
                try:
                    c.admin(i, *cmd)
                except redis.RedisError:
                    pass
