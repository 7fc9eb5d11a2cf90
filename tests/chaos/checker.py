"""checker.py -- what a chaos run's history and final state must satisfy.

Pure: functions of the history (workload.History.events), the nemesis
steps and the final values read from the replicas.  No I/O, no clock, so
tests/chaos/test_checker.py can feed them histories built by hand.

The rules, for the set workload (an add = read + write of a union):

  lost        every acknowledged add (type ok) is in the key's final value.
  phantom     nothing is in a final value that no client ever tried to add
              to that key.
  resurrected an add that certainly failed (type fail: its read failed, or
              the coordinator refused it) is not in the final value.
  future      a read never returns an element whose add was invoked after
              the read completed, nor one never added to that key.
  stale       a read misses an acknowledged add only where Dynamo allows it.
              Dynamo's guarantee is R + W > N over the *same* N replicas:
              a write acknowledged by W of the key's top N and a read
              answered by R of them share a replica.  Sloppy quorum breaks
              that on purpose: while any node is down, cut off, paused, or
              the ring is changing, writes go to stand-ins and reads may
              miss them until hints are delivered.  So the rule checked is:
              a read invoked after an add was acknowledged must see it when
              both the add's invocation and the read's completion fall in
              one calm window -- an interval with no nemesis step under way,
              starting `settle` seconds after the previous step healed (the
              time for every failure detector to see every node up again).
              A wiped disk, a kill, a partition, a membership change all
              end a calm window, so an add acknowledged before a step is
              never held against a read after it.  Stale reads outside calm
              windows are counted and reported (a figure), never failed.

For the register workload the same `lost` set is a figure: it is what
last-writer-wins loses, reported per key.  The sadd workload (typed sets,
SADD) is held to lost, phantom and resurrected as the set workload is.

For the counter and hincr workloads (INCRBY and HINCRBY by 1 on types
that merge), check_counts:

  counts      every count read back after the heal lies between its
              acknowledged increments and those plus the indeterminate
              ones: none lost, none applied twice, none from nowhere.

Placement: every key held (DYNAMO.LOCAL non-empty) by exactly its N
replicas of the final ring; placement_offenders lists the others.
"""


def adds_of(events):
    """element -> {key, invoked, outcome, acked} from a history."""
    adds = {}
    for ev in events:
        if ev.get("f") != "add":
            continue
        a = adds.setdefault(ev["value"], {"key": ev["key"], "invoked": None,
                                          "outcome": None, "acked": None})
        if ev["type"] == "invoke":
            a["invoked"] = ev["t"]
        else:
            a["outcome"] = ev["type"]
            if ev["type"] == "ok":
                a["acked"] = ev["t"]
    return adds


def check_final(events, final):
    """final: key -> set of elements read back after the heal.
    Returns {lost, phantom, resurrected, acked, present}, each a sorted
    list of (key, element) except the counts acked and present."""
    adds = adds_of(events)
    lost, phantom, resurrected = [], [], []
    acked = 0
    for elem, a in adds.items():
        inside = elem in final.get(a["key"], set())
        if a["outcome"] == "ok":
            acked += 1
            if not inside:
                lost.append((a["key"], elem))
        elif a["outcome"] == "fail" and inside:
            resurrected.append((a["key"], elem))
    present = 0
    for key, elems in final.items():
        for elem in elems:
            present += 1
            a = adds.get(elem)
            if a is None or a["key"] != key:
                phantom.append((key, elem))
    return {"lost": sorted(lost), "phantom": sorted(phantom),
            "resurrected": sorted(resurrected), "acked": acked,
            "present": present}


def check_counts(events, final):
    """final: (key, field or None) -> the count read back after the heal
    (0 for an absent key or field).  Returns {bad, acked, info}: bad lists
    (key, field, acked, info, got) for each count outside [acked, acked +
    info]; acked and info are the totals."""
    want = {}
    for ev in events:
        if ev.get("f") != "incr" or ev["type"] == "invoke":
            continue
        k = (ev["key"], ev.get("field"))
        w = want.setdefault(k, [0, 0])
        if ev["type"] == "ok":
            w[0] += 1
        elif ev["type"] == "info":
            w[1] += 1
    bad = []
    for k in sorted(set(want) | set(final), key=lambda x: (x[0], x[1] or "")):
        acked, info = want.get(k, [0, 0])
        got = final.get(k, 0)
        if not acked <= got <= acked + info:
            bad.append((k[0], k[1], acked, info, got))
    return {"bad": bad, "acked": sum(w[0] for w in want.values()),
            "info": sum(w[1] for w in want.values())}


def check_removes(events, final):
    """The srem workload: final is key -> set of members read back after
    the heal.  Each element is added once, by one client, and removed at
    most once, by it.  Returns {bad, acked_removes}: bad lists (key,
    element, what was wanted, present) for each element whose presence
    the history rules out:
      - a remove acknowledged with reply 1 saw the element's only add:
        it is gone;
      - a remove acknowledged with reply 0 saw none: an acknowledged add
        stays (add wins over a remove that missed it);
      - no remove that may have run (none, or one that certainly failed):
        an acknowledged add stays, a certainly failed one is absent;
      - an element no one added is never there.
    Anything with an indeterminate step (info) may be either.  missed
    counts the acknowledged removes that saw no add (reply 0)."""
    ops = {}
    for ev in events:
        if ev.get("f") not in ("add", "srem") or ev["type"] == "invoke":
            continue
        o = ops.setdefault((ev["key"], ev["value"]), {})
        o[ev["f"]] = (ev["type"], ev.get("reply"))
    bad, acked, missed = [], 0, 0
    for (key, elem), o in sorted(ops.items()):
        present = elem in final.get(key, set())
        add, rem = o.get("add", ("fail", None)), o.get("srem")
        want = None  # None: either
        if rem is not None and rem[0] == "ok":
            acked += 1
            missed += rem[1] == 0
            want = False if rem[1] == 1 else (True if add[0] == "ok"
                                              else None)
        elif rem is None or rem[0] == "fail":
            want = {"ok": True, "fail": False}.get(add[0])
        if want is not None and want != present:
            bad.append((key, elem, "present" if want else "absent",
                        present))
    for key, elems in final.items():
        for elem in elems:
            if (key, elem) not in ops:
                bad.append((key, elem, "never added", True))
    return {"bad": bad, "acked_removes": acked, "missed_removes": missed}


def calm_windows(steps, settle, end):
    """Intervals [a, b) with no nemesis step under way, each starting
    `settle` seconds after the previous step ended.  steps: list of
    (start, end) times; the first window starts at 0 (the cluster was
    seen whole before the clients began)."""
    windows = []
    t = 0.0
    for s, e in sorted(steps):
        if s > t:
            windows.append((t, s))
        t = max(t, e + settle)
    if end > t:
        windows.append((t, end))
    return windows


def window_of(windows, t):
    for i, (a, b) in enumerate(windows):
        if a <= t < b:
            return i
    return None


def check_reads(events, windows):
    """Returns {future, stale, stale_allowed, reads}: future and stale are
    violations (lists of dicts), stale_allowed a count."""
    adds = adds_of(events)
    by_key = {}
    for elem, a in adds.items():
        by_key.setdefault(a["key"], []).append((elem, a))
    future, stale = [], []
    stale_allowed = 0
    reads = 0
    for ev in events:
        if ev.get("f") != "read" or ev["type"] != "ok":
            continue
        reads += 1
        seen = set(ev["value"])
        for elem in seen:
            a = adds.get(elem)
            if a is None or a["key"] != ev["key"] or a["invoked"] is None \
                    or a["invoked"] > ev["t"]:
                future.append({"read": ev, "element": elem})
        w_read = window_of(windows, ev["t"])
        for elem, a in by_key.get(ev["key"], []):
            if a["acked"] is None or a["acked"] >= ev["invoked"] \
                    or elem in seen:
                continue
            if w_read is not None and window_of(windows, a["invoked"]) == w_read:
                stale.append({"read": ev, "element": elem, "add": a})
            else:
                stale_allowed += 1
    return {"future": future, "stale": stale, "stale_allowed": stale_allowed,
            "reads": reads}


def placement_offenders(holders, replicas):
    """holders: key -> set of node names storing a live copy;
    replicas: key -> list of the key's N replicas in the final ring.
    Returns [(key, extra, missing)] for every key not exactly on them."""
    out = []
    for key in sorted(replicas):
        want = set(replicas[key])
        have = holders.get(key, set())
        if have != want:
            out.append((key, sorted(have - want), sorted(want - have)))
    return out


def diverged(copies):
    """copies: key -> {node: value or None}.  The keys whose replicas do
    not all hold the same value (a missing copy differs from any value)."""
    return sorted(k for k, per in copies.items()
                  if len({repr(v) for v in per.values()}) > 1)
