#!/usr/bin/python3
"""http_views.py -- drives the dashboard's cluster-wide views of a running
3-node cluster (made by t_http_views.sh, anti-entropy off) with urllib and
redis-cli, and says what it saw: one "ok   - ..." or "FAIL - ..." line
per check, exit 1 when one failed.

    http_views.py BASE_HTTP_PORT BASE_CLIENT_PORT

Node i (1..3) serves http on BASE_HTTP_PORT + i - 1.  Nothing here
sleeps to wait: what must spread or heal is polled with a deadline.
"""
import sys
import urllib.parse

import api_client
from api_client import call, check, is_error, poll, rcli

HTTP0 = int(sys.argv[1])
CLIENT0 = int(sys.argv[2])
NAMES = ["n1", "n2", "n3"]
api_client.configure(HTTP0, CLIENT0)


def get(node, path):
    st, body, _ = call(node, "GET", path)
    return body if st == 200 and isinstance(body, dict) else None


# ---- GET /api/merkle: shapes ---------------------------------------------------------
m = get(2, "/api/merkle")
ring = get(2, "/api/ring")
check(m is not None and ring is not None, "GET /api/merkle answers 200")
parts = m["partitions"]
check(len(parts) == ring["partitions"] and
      [p["partition"] for p in parts] == list(range(ring["partitions"])),
      "every partition of the ring is listed, in order")
check(all(isinstance(p["in_sync"], bool) and len(p["replicas"]) == 3 and
          all(set(r) == {"node", "root", "keys"} for r in p["replicas"])
          for p in parts), "each with in_sync and its 3 replicas' node, "
      "root and keys")
check(m["divergent"] == 0 and m["unanswered"] == [],
      "a fresh cluster: 0 divergent, nobody unanswered")
check(all(len(r["root"]) == 16 and r["keys"] == 0
          for p in parts for r in p["replicas"]),
      "empty replicas: 16-hex roots that compare equal, 0 keys")

# ---- a real divergence: n3 misses a write, then anti-entropy heals it -----------------
KEY = "merkle:k1"
pk = get(1, "/api/ring/key/" + KEY)
P = pk["partition"]
st, f, _ = call(1, "POST", "/api/faults", {"from": "n1", "to": "n3"})
check(st == 200, "POST /api/faults n1 -> n3: n1's requests to n3 dropped")
st, w, _ = call(1, "PUT", "/api/data/" + KEY, {"value": "v1"})
check(st == 200, "PUT %s through n1 (W=2 from n1 and n2)" % KEY)


def divergent_p():
    v = get(2, "/api/merkle")
    if not v:
        return None
    row = [p for p in v["partitions"] if p["partition"] == P]
    return v if row and not row[0]["in_sync"] else None


v = poll(divergent_p, 10)
check(v is not None and v["divergent"] > 0,
      "GET /api/merkle on n2: partition %d of %s diverges (divergent %s)" %
      (P, KEY, v and v["divergent"]))
if v:
    row = [p for p in v["partitions"] if p["partition"] == P][0]
    roots = {r["node"]: r for r in row["replicas"]}
    check(roots["n1"]["root"] == roots["n2"]["root"] !=
          roots["n3"]["root"] and roots["n1"]["keys"] == 1 and
          roots["n3"]["keys"] == 0, "n1 and n2 share a root and n3, "
          "without the key, has another")
d = get(2, "/api/merkle/%d" % P)
check(d is not None and d["partition"] == P and d["leaves"] > 0 and
      len(d["differing_leaves"]) == 1 and d["unanswered"] == [] and
      sorted(r["node"] for r in d["replicas"]) == NAMES and
      all(set(r) == {"node", "root", "keys"} for r in d["replicas"]),
      "GET /api/merkle/%d: the replicas and the one differing leaf (%s)" %
      (P, d))
st, _, _ = call(1, "DELETE", "/api/faults")
check(st == 200, "DELETE /api/faults heals the cut")
check(rcli(2, "DYNAMO.AE", "ALL").startswith("partitions"),
      "DYNAMO.AE ALL on n2 runs")


def in_sync_p():
    v = get(2, "/api/merkle")
    return v and [p for p in v["partitions"]
                  if p["partition"] == P][0]["in_sync"]


check(poll(in_sync_p), "then partition %d is in sync again" % P)

# ---- errors --------------------------------------------------------------------------
is_error(call(1, "GET", "/api/merkle/%d" % ring["partitions"]), 404,
         "a partition the ring does not have")
is_error(call(1, "GET", "/api/merkle/99999"), 404, "partition 99999")
is_error(call(1, "GET", "/api/merkle/abc"), 400, "a partition that is not "
         "a number")
is_error(call(1, "GET", "/api/merkle/-1"), 400, "partition -1")
for path in ("/api/merkle", "/api/merkle/1", "/api/gossip"):
    st, body, hdrs = call(1, "POST", path, {})
    is_error((st, body, hdrs), 405, "POST " + path)
    check(hdrs.get("Allow") == "GET", "and Allow: GET (%s)" %
          hdrs.get("Allow"))
is_error(call(1, "DELETE", "/api/events"), 405, "DELETE /api/events")
is_error(call(1, "GET", "/api/events?since=soon"), 400, "since=soon")
is_error(call(1, "GET", "/api/events?since=n1:x"), 400, "since=n1:x")

# ---- GET /api/gossip -----------------------------------------------------------------


def gossip_rounds():
    g = get(3, "/api/gossip")
    return g if g and all(g["nodes"].get(n, {}).get("rounds")
                          for n in NAMES) else None


g = poll(gossip_rounds)
check(g is not None and sorted(g["nodes"]) == NAMES and
      g["unanswered"] == [], "GET /api/gossip: every node, with rounds")
if g:
    view = g["nodes"]["n1"]["view"]
    check(sorted(x["name"] for x in view) == NAMES and
          all(set(x) == {"name", "status", "incarnation", "heartbeat",
                         "heartbeat_ms_ago"} for x in view) and
          [x["status"] for x in view if x["name"] == "n1"] == ["self"],
          "n1's view: every member's status, incarnation, heartbeat and "
          "its age")
    rounds = [r for n in NAMES for r in g["nodes"][n]["rounds"]]
    check(all(set(r) == {"time_ms", "peer", "dir", "answered", "entries",
                         "news"} and r["dir"] in ("sent", "received") and
              r["peer"] for r in rounds),
          "each round: time, peer, sent or received, entries, news")
    check(any(r["dir"] == "sent" and r["answered"] and r["entries"] == 3
              for r in rounds) and
          any(r["dir"] == "received" and r["entries"] == 3 for r in rounds),
          "rounds both ways carry the 3 members' entries")
    times = [r["time_ms"] for r in g["nodes"]["n2"]["rounds"]]
    check(times == sorted(times, reverse=True), "rounds are newest first")

# ---- a member killed: trace, events, gossip news -------------------------------------
st, c0, _ = call(1, "GET", "/api/events?since=0")
check(st == 200 and isinstance(c0.get("cursor"), str) and
      c0["unanswered"] == [], "GET /api/events answers with a cursor")
st, k, _ = call(1, "POST", "/api/nodes/n2/kill")
check(st == 200, "POST /api/nodes/n2/kill")
st, w, _ = call(1, "PUT", "/api/data/cart_42", {"value": "x"})
check(st == 200 and isinstance(w.get("trace"), dict) and
      w["trace"].get("coordinator") == "n1" and
      w["trace"].get("op") == "dynamo.put",
      "PUT /api/data/cart_42 on n1 with n2 killed: the trace is n1's "
      "(got %s)" % str(w.get("trace"))[:80])
e = get(1, "/api/events?since=0")
check(e is not None and e["unanswered"] == ["n2"],
      "GET /api/events with n2 killed: n2 is unanswered (%s)" %
      (e and e["unanswered"]))
g = get(1, "/api/gossip")
check(g is not None and g["unanswered"] == ["n2"] and
      sorted(g["nodes"]) == ["n1", "n3"],
      "GET /api/gossip with n2 killed: the others, n2 unanswered")
m = get(1, "/api/merkle")
check(m is not None and m["unanswered"] == ["n2"] and
      all(r["root"] is None and r["keys"] == -1
          for p in m["partitions"] for r in p["replicas"]
          if r["node"] == "n2"),
      "GET /api/merkle with n2 killed: its roots null, unanswered")
st, _, _ = call(3, "POST", "/api/nodes/n2/revive")
check(st == 200, "POST /api/nodes/n2/revive")


def kill_event():
    v = get(3, "/api/events?since=0")
    if not v:
        return None
    types = {(x["node"], x["type"]) for x in v["events"]}
    return v if ("n2", "kill") in types and ("n2", "revive") in types \
        else None


e = poll(kill_event)
check(e is not None, "GET /api/events on n3: n2's kill and revive, from "
      "n2's log")
if e:
    ts = [x["time_ms"] for x in e["events"]]
    check(ts == sorted(ts), "events merged from every node, oldest first")
    check({x["node"] for x in e["events"]} == set(NAMES),
          "the events of all three nodes")
    seen = {(x["node"], x["id"]) for x in e["events"]}
    e2 = get(3, "/api/events?since=" + urllib.parse.quote(e["cursor"]))
    check(e2 is not None and not seen & {(x["node"], x["id"])
                                         for x in e2["events"]},
          "polling with the cursor repeats no event")
    # (events go on happening -- n2 was just revived -- so a later one may
    # come back: none at or below since)
    top = max(x["id"] for x in e["events"])
    e3 = get(3, "/api/events?since=%d" % top)
    check(e3 is not None and all(x["id"] > top for x in e3["events"]) and
          e3["cursor"].startswith("*:"), "a plain since past every id: "
          "nothing at or below it, and a cursor for every node")


# ---- RESP errors ---------------------------------------------------------------------
for args, want in ((["DYNAMO.ROOTS", "x"], "ERR syntax: DYNAMO.ROOTS"),
                   (["DYNAMO.ROOTS", "CLUSTER", "x"],
                    "ERR syntax: DYNAMO.ROOTS"),
                   (["DYNAMO.GOSSIP", "x"], "ERR syntax: DYNAMO.GOSSIP"),
                   (["DYNAMO.GOSSIP", "CLUSTER", "x"],
                    "ERR syntax: DYNAMO.GOSSIP"),
                   (["DYNAMO.EVENTS", "CLUSTER", "n1:5,"],
                    "ERR DYNAMO.EVENTS since must be"),
                   (["DYNAMO.EVENTS", ":5"],
                    "ERR DYNAMO.EVENTS since must be")):
    out = rcli(1, *args)
    check(out.startswith(want), "%s: %s" % (" ".join(args), out))
# (n2, revived above, answers once n1's detector has heard it again)
out = poll(lambda: (lambda o: o if o.count("empty_root") == 3 else None)(
    rcli(1, "DYNAMO.ROOTS", "CLUSTER")))
check(out is not None, "DYNAMO.ROOTS CLUSTER: the three nodes' records")

# ---- a member leaves: gossip carries the news -----------------------------------------
# N goes down to 2 first, so that the two that stay can hold every key
st, _, _ = call(1, "POST", "/api/cluster/config", {"n": 2, "r": 1, "w": 1})
check(st == 200, "N, R, W lowered to 2, 1, 1")
check(poll(lambda: "n:2" in rcli(3, "INFO", "dynamo")),
      "gossip carries N to n3")
st, _, _ = call(3, "DELETE", "/api/nodes/n3")
check(st == 200, "DELETE /api/nodes/n3 on n3: it leaves")


def gossip_news():
    v = get(1, "/api/gossip")
    return v and [(n, r) for n, x in v["nodes"].items()
                  for r in x["rounds"] for line in r["news"]
                  if line == "n3: up->left"]


news = poll(gossip_news, 60)
check(bool(news), "a gossip round of n1 or n2 brought the news "
      "\"n3: up->left\" (%s)" % (news and news[0][1]))

api_client.finish()
