#!/usr/bin/python3
"""http_check.py -- drives the JSON API of a running 3-node cluster (made
by t_http.sh) with urllib, as a browser or a script would, and says what
it saw: one "ok   - ..." or "FAIL - ..." line per check, exit 1 when one
failed.

    http_check.py BASE_HTTP_PORT BASE_CLIENT_PORT

Node i (1..3) serves http on BASE_HTTP_PORT + i - 1.  Nothing here
sleeps to wait: what gossip must spread is polled with a deadline.
"""
import base64
import json
import socket
import sys

import api_client
from api_client import call, check, is_error, poll, rcli, url

HTTP0 = int(sys.argv[1])
CLIENT0 = int(sys.argv[2])
api_client.configure(HTTP0, CLIENT0)


# ---- the cluster -----------------------------------------------------------
st, c, _ = call(2, "GET", "/api/cluster")
check(st == 200, "GET /api/cluster answers 200")
members = c.get("members", [])
check(sorted(m.get("name") for m in members) == ["n1", "n2", "n3"],
      "it lists the three members")
check(all({"status", "addr", "incarnation", "heartbeat_ms_ago"} <= set(m)
          for m in members), "each member has status, address, incarnation "
      "and heartbeat age")
check(c.get("ring_epoch", 0) >= 1 and (c.get("n"), c.get("r"), c.get("w"))
      == (3, 2, 2), "ring epoch and N/R/W 3/2/2")
nodes = c.get("nodes", {})
check(sorted(nodes) == ["n1", "n2", "n3"] and
      all(v.get("answered") and {"keys", "used_memory", "hints_held",
                                 "dynamo"} <= set(v) for v in nodes.values()),
      "every node answered with keys, memory, hints and its INFO dynamo "
      "counters (R.INFO over the peer bus)")
check(all(isinstance(v["dynamo"].get("coordinated"), int)
          for v in nodes.values()), "INFO counters are numbers")

# ---- data: write, read through another node, conflict, resolve, delete -----
st, put, _ = call(1, "PUT", "/api/data/cart_42", {"value": "milk"})
check(st == 200 and put.get("values") == ["milk"] and
      isinstance(put.get("context"), str) and len(put.get("versions", [])) == 1
      and "clock" in put["versions"][0],
      "PUT /api/data/cart_42 stores it and answers values, context, clocks")
ctx0 = put.get("context", "")
st, got, _ = call(3, "GET", "/api/data/cart_42")
check(st == 200 and got.get("values") == ["milk"],
      "GET through another node reads it with quorum")
check(rcli(2, "GET", "cart_42") == "milk", "a RESP client reads the same")
# two writes with the same context through two coordinators: siblings
a = call(1, "PUT", "/api/data/cart_42", {"value": "eggs", "context": ctx0})
b = call(2, "PUT", "/api/data/cart_42", {"value": "flour", "context": ctx0})
check(a[0] == 200 and b[0] == 200, "two PUTs with the same context succeed")
st, got, _ = call(3, "GET", "/api/data/cart_42")
check(st == 200 and sorted(got.get("values", [])) == ["eggs", "flour"] and
      len(got.get("versions", [])) == 2,
      "GET shows both siblings, each with its clock")
st, got2, _ = call(1, "PUT", "/api/data/cart_42",
                   {"value": "eggs+flour", "context": got.get("context")})
check(st == 200 and got2.get("values") == ["eggs+flour"],
      "a PUT with the read context resolves the siblings")
st, d, _ = call(2, "DELETE", "/api/data/cart_42",
                {"context": got2.get("context")})
check(st == 200 and d.get("deleted") == 1, "DELETE with a context deletes")
st, g, _ = call(1, "GET", "/api/data/cart_42")
check(st == 404 and g.get("values") == [] and isinstance(g.get("context"),
                                                         str),
      "GET of a deleted key is 404 and still gives the context")
call(1, "PUT", "/api/data/plain", {"value": "x"})
st, d, _ = call(3, "DELETE", "/api/data/plain")
check(st == 200 and d.get("deleted") == 1,
      "DELETE without a context is DEL")
# a key with a space and a slash, percent-encoded in the path
st, sp, _ = call(2, "PUT", "/api/data/a%20b%2Fc", {"value": "v"})
check(st == 200 and sp.get("key") == "a b/c" and
      rcli(1, "GET", "a b/c") == "v", "a percent-encoded key is the key")
st, w1, _ = call(1, "PUT", "/api/data/wkey", {"value": "v", "w": 3})
check(st == 200, "PUT with its own W")
st, w1, _ = call(1, "PUT", "/api/data/wkey", {"value": "v", "w": 9})
is_error((st, w1, {"Content-Type": "application/json"}), 400, "PUT with W 9")
check("W must be between" in w1.get("error", "") and "W must be between" in
      rcli(1, "DYNAMO.PUT", "wkey", "", "v", "W", "9"),
      "the same error as over RESP")

# ---- a data request carries its trace --------------------------------------
st, d, _ = call(2, "PUT", "/api/data/traced", {"value": "t1"})
tr = d.get("trace") if isinstance(d, dict) else None
check(st == 200 and isinstance(tr, dict) and tr.get("op") == "dynamo.put"
      and tr.get("key") == "traced" and tr.get("outcome") == "ok"
      and len(tr.get("replicas", [])) == 3
      and all(isinstance(r, dict) and "write" in r for r in tr["replicas"]),
      "PUT /api/data/:key answers with the DYNAMO.PUT's trace, its 3 "
      "replicas each with what they did (got %s)" % str(tr)[:200])
st, d, _ = call(1, "GET", "/api/data/traced")
tr = d.get("trace") if isinstance(d, dict) else None
check(st == 200 and isinstance(tr, dict) and tr.get("op") == "dynamo.get"
      and tr.get("read_quorum_us", 0) > 0,
      "GET /api/data/:key answers with the DYNAMO.GET's trace, R reached")

# ---- scan ---------------------------------------------------------------------
for i in range(5):
    call(1 + i % 3, "PUT", "/api/data/scan:%d" % i, {"value": str(i)})


def scan_all(node, count):
    """Pages through GET /api/data until the cursor is 0: the last status,
    the keys seen and the number of pages."""
    seen, cursor, pages = [], "0", 0
    while True:
        st, page, _ = call(node, "GET", "/api/data?cursor=%s&match=scan:*"
                           "&count=%d" % (cursor, count))
        if st != 200:
            break
        seen += page["keys"]
        cursor = page["cursor"]
        pages += 1
        if cursor == "0" or pages > 100000:
            break
    return st, seen, pages


st, seen, pages = scan_all(2, 1000)
check(st == 200 and sorted(seen) == ["scan:%d" % i for i in range(5)],
      "GET /api/data pages through every key of the cluster (%d pages)"
      % pages)
st, seen, pages = scan_all(1, 1)
check(st == 200 and sorted(seen) == ["scan:%d" % i for i in range(5)] and
      pages >= 3, "count=1: pages of a few keys each, still every key once "
      "(%d pages)" % pages)
is_error(call(1, "GET", "/api/data?count=0"), 400, "count 0")
is_error(call(1, "GET", "/api/data?cursor=abc"), 400, "a cursor that is not "
         "a number")
check("invalid cursor" in rcli(1, "SCAN", "abc").lower(),
      "SCAN abc over RESP is an error too")

# ---- ring -----------------------------------------------------------------------
st, ring, _ = call(3, "GET", "/api/ring")
check(st == 200 and ring.get("partitions") == 256 and
      len(ring.get("table", [])) == 256 and
      sum(x["partitions"] for x in ring.get("nodes", [])) == 256 and
      all(len(row["replicas"]) == 3 and row["owner"] == row["replicas"][0]
          for row in ring.get("table", [])),
      "GET /api/ring: 256 partitions, each with its owner and 3 replicas")
st, pk, _ = call(1, "GET", "/api/ring/key/cart_42")
want = [l for l in rcli(1, "DYNAMO.PREFLIST", "cart_42").split("\n")]
check(st == 200 and len(pk.get("replicas", [])) == 3 and
      [r["name"] for r in pk["replicas"]] ==
      [l for l in want if l.startswith("n")][:3] and
      all("status" in r for r in pk["replicas"]) and "fallbacks" in pk,
      "GET /api/ring/key/cart_42: the preference list DYNAMO.PREFLIST gives, "
      "with status")

# ---- N/R/W ----------------------------------------------------------------------
st, cf, _ = call(1, "POST", "/api/cluster/config", {"w": 3, "r": 1})
check(st == 200 and (cf.get("r"), cf.get("w")) == (1, 3),
      "POST /api/cluster/config sets R and W")
check(poll(lambda: "w:3" in rcli(3, "INFO", "dynamo")),
      "gossip carries W to the other nodes")
st, cf, _ = call(2, "POST", "/api/cluster/config", {"w": 2, "r": 2})
check(st == 200 and (cf.get("r"), cf.get("w")) == (2, 2), "and back")
e = is_error(call(1, "POST", "/api/cluster/config", {"w": 9}), 400,
             "W above N")
check(e.get("error", "").split(" (")[0] in
      rcli(1, "DYNAMO.CONFIG", "SET", "w", "9"),
      "the same error as DYNAMO.CONFIG SET w 9 over RESP")
is_error(call(1, "POST", "/api/cluster/config", {"x": 1}), 400,
         "an unknown field")
is_error(call(1, "POST", "/api/cluster/config", {"w": "2"}), 400,
         "a string for W")
is_error(call(1, "POST", "/api/cluster/config", {}), 400, "nothing to set")

# ---- metrics --------------------------------------------------------------------
st, text, hdrs = call(2, "GET", "/metrics")
check(st == 200 and hdrs.get("Content-Type", "").startswith("text/plain") and
      all('dynamod_dynamo_coordinated{node="n%d"}' % i in text
          for i in (1, 2, 3)) and
      "# TYPE dynamod_dynamo_coordinated untyped" in text,
      "GET /metrics: Prometheus text with a sample per node")

# ---- bad input ------------------------------------------------------------------
is_error(call(1, "GET", "/api/nosuch"), 404, "an unknown path")
is_error(call(1, "GET", "/nosuch"), 404, "an unknown path outside /api")
st, body, hdrs = call(1, "POST", "/api/ring", {})
is_error((st, body, hdrs), 405, "POST to a GET-only path")
check(hdrs.get("Allow") == "GET", "405 names the allowed methods (Allow: "
      "%s)" % hdrs.get("Allow"))
st, body, hdrs = call(1, "PATCH", "/api/data/k", {})
check(st == 405 and hdrs.get("Allow") == "GET, PUT, DELETE",
      "PATCH on a key is 405, Allow: GET, PUT, DELETE")
is_error(call(1, "PUT", "/api/data/k", raw=b"{\"value\": "), 400, "bad JSON")
is_error(call(1, "PUT", "/api/data/k", raw=b"[1]"), 400, "a body that is not "
         "an object")
is_error(call(1, "PUT", "/api/data/k", {"context": "x"}), 400,
         "PUT without a value")
is_error(call(1, "PUT", "/api/data/k", {"value": 5}), 400,
         "a value that is not a string")
is_error(call(1, "PUT", "/api/data/k", raw=b'{"value":"a","value":"b"}'),
         400, "a duplicated field")
big = json.dumps({"value": "x" * (70 * 1024)}).encode()
is_error(call(1, "PUT", "/api/data/k", raw=big), 413, "a 70 KiB body")


def raw_request(node, head):
    s = socket.create_connection(("127.0.0.1", HTTP0 + node - 1), timeout=10)
    s.sendall(head)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return data


resp = raw_request(1, b"PUT /api/data/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Length: 10000000\r\nConnection: close\r\n\r\n")
check(resp.startswith(b"HTTP/1.1 413"), "a 10 MB body is refused (413) "
      "before it is read")
is_error(call(1, "POST", "/api/nodes/nosuch/kill"), 404, "an unknown member")
check("ERR" in rcli(1, "DYNAMO.KILL", "nosuch", "5"),
      "DYNAMO.KILL of an unknown member over RESP is an error too")
is_error(call(1, "DELETE", "/api/nodes/nosuch"), 404, "DELETE of an unknown "
         "member")
e = is_error(call(1, "DELETE", "/api/nodes/n2"), 400, "DELETE of a live "
             "other member: it is told to leave, and refuses (3 nodes, N=3)")
check("fewer than N" in e.get("error", ""), "the refusal is n2's own "
      "(%s)" % e.get("error"))

is_error(call(1, "POST", "/api/nodes", {"address": "x"}), 400, "POST "
         "/api/nodes without addr")
is_error(call(1, "GET", "/api/data/a%zz"), 400, "a broken escape in the path")

# ---- Host and Origin ------------------------------------------------------------
is_error(call(1, "GET", "/api/cluster", headers={"Host": "evil.example"}),
         403, "a foreign Host (DNS rebinding)")
is_error(call(1, "PUT", "/api/data/csrf", {"value": "x"},
              headers={"Origin": "http://evil.example"}), 403,
         "a foreign Origin (CSRF)")
is_error(call(1, "PUT", "/api/data/csrf", {"value": "x"},
              headers={"Origin": "http://127.0.0.1:%d" % (HTTP0 + 60)}), 403,
         "a port that is no member's http port as Origin")
check(rcli(1, "EXISTS", "csrf") == "0", "and nothing was written")
st, _, hdrs = call(1, "PUT", "/api/data/csrf", {"value": "x"},
                   headers={"Origin": "http://127.0.0.1:%d" % HTTP0,
                            "Host": "n1:%d" % HTTP0})
check(st == 200 and "Access-Control-Allow-Origin" not in hdrs,
      "the node's own origin and name are served, with no CORS header")

# ---- faults, kill and revive --------------------------------------------------------
st, f, _ = call(1, "POST", "/api/faults", {"from": ["n1"], "to": ["n2", "n3"],
                                           "delay_ms": 5})
check(st == 200 and f.get("faults") == 2, "POST /api/faults: two delays")
st, fl, _ = call(1, "GET", "/api/faults")
check(st == 200 and len(fl.get("faults", [])) > 0, "GET /api/faults lists "
      "them")
st, _, _ = call(1, "DELETE", "/api/faults")
st2, fl, _ = call(1, "GET", "/api/faults")
check(st == 200 and fl.get("faults") == [], "DELETE /api/faults clears them")
is_error(call(1, "POST", "/api/faults", {"from": "n1"}), 400, "a fault "
         "without to")

st, k, _ = call(1, "POST", "/api/nodes/n3/kill")
check(st == 200 and k.get("ok") is True, "POST /api/nodes/n3/kill")


def n3_silent():
    st, c, _ = call(1, "GET", "/api/cluster")
    return st == 200 and c["nodes"].get("n3", {}).get("answered") is False


check(poll(n3_silent), "the killed node no longer answers in /api/cluster")
is_error(call(3, "GET", "/api/data/scan:1"), 503, "the killed node refuses "
         "data")
for i in range(5):
    call(1, "PUT", "/api/data/hinted:%d" % i, {"value": "v"})


def hints_for_n3(want):
    st, c, _ = call(1, "GET", "/api/cluster")
    if st != 200:
        return False
    held = sum(v.get("hints_by_owner", {}).get("n3", 0)
               for v in c["nodes"].values() if v.get("answered"))
    return held > 0 if want else held == 0


check(poll(lambda: hints_for_n3(True)), "GET /api/cluster: hints_by_owner "
      "counts the hints held for the killed n3")
st, _, _ = call(2, "POST", "/api/nodes/n3/revive")
check(st == 200, "POST /api/nodes/n3/revive")


def n3_back():
    st, c, _ = call(1, "GET", "/api/cluster")
    return st == 200 and c["nodes"].get("n3", {}).get("answered") is True


check(poll(n3_back), "and it answers again")
check(poll(lambda: hints_for_n3(False), 60), "and its hint queues drain "
      "after the revive")


def n3_events(types):
    st, ev, _ = call(3, "GET", "/api/events?since=0")
    got = [e.get("type") for e in ev.get("events", [])] if st == 200 else []
    return all(t in got for t in types)


check(poll(lambda: n3_events(["kill", "revive"])),
      "GET /api/events on n3: its kill and revive are events")
st, ev, _ = call(3, "GET", "/api/events?since=0")
last = ev["events"][-1]["id"] if st == 200 and ev.get("events") else 0
st, ev, _ = call(3, "GET", "/api/events?since=%d" % (last + 1000000))
check(st == 200 and ev.get("events") == [], "GET /api/events?since= past "
      "the last id: none")
is_error(call(3, "GET", "/api/events?since=soon"), 400, "a since that is not "
         "an event id")

# ---- the password ----------------------------------------------------------------------
PW = "s3cret-pw"
for i in (1, 2, 3):
    rcli(i, "CONFIG", "SET", "requirepass", PW)
st, body, hdrs = call(1, "GET", "/api/cluster")
is_error((st, body, hdrs), 401, "no password")
check("Bearer" in hdrs.get("WWW-Authenticate", ""), "401 says how "
      "(WWW-Authenticate)")
is_error(call(1, "GET", "/api/cluster",
              headers={"Authorization": "Bearer wrong"}), 401,
         "a wrong password")
st, _, _ = call(1, "GET", "/api/cluster",
                headers={"Authorization": "Bearer " + PW})
check(st == 200, "the password as a bearer token")
basic = base64.b64encode(b"anyone:" + PW.encode()).decode()
st, _, _ = call(1, "PUT", "/api/data/authed", {"value": "y"},
                headers={"Authorization": "Basic " + basic})
check(st == 200 and rcli(2, "GET", "authed", password=PW) == "y",
      "the password with HTTP Basic, any user")
for i in (1, 2, 3):
    rcli(i, "CONFIG", "SET", "requirepass", "", password=PW)

# ---- membership: join (a known address) and leave --------------------------------------
st, j, _ = call(1, "POST", "/api/nodes", {"addr": "127.0.0.1:%d" %
                                          (CLIENT0 + 1)})
check(st == 200, "POST /api/nodes {addr} runs DYNAMO.JOIN (%s)" % j)
# N shrinks below the members first (R and W go down before N does)
st, cf, _ = call(2, "POST", "/api/cluster/config", {"n": 2, "r": 1, "w": 1})
check(st == 200 and (cf.get("n"), cf.get("r"), cf.get("w")) == (2, 1, 1),
      "N, R and W lowered together, in an order that keeps R, W <= N")
check(poll(lambda: "n:2" in rcli(3, "INFO", "dynamo")),
      "gossip carries N to n3")
st, lv, _ = call(3, "DELETE", "/api/nodes/n3")
check(st == 200, "DELETE /api/nodes/n3 on n3: it leaves (%s)" % lv)


def n3_gone():
    st, r, _ = call(1, "GET", "/api/ring")
    return st == 200 and [x["name"] for x in r["nodes"]] == ["n1", "n2"]


check(poll(n3_gone, 60), "the ring no longer holds n3")

api_client.finish()
