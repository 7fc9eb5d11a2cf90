#!/usr/bin/python3
"""stream_check.py -- GET /api/stream and the member origins on a running
3-node cluster (made by t_http_stream.sh with http-stream-max 2), as the
dashboard uses them: one "ok   - ..." or "FAIL - ..." line per check, exit
1 when one failed.

    stream_check.py BASE_HTTP_PORT BASE_CLIENT_PORT

Node i (1..3) serves http on BASE_HTTP_PORT + i - 1.  What the cluster
must do is polled with a deadline; the one wait with no event to poll for
is the check that the polling stopped (a counter that must not move).
"""
import http.client
import json
import socket
import subprocess
import sys
import time

import api_client
from api_client import check, rcli

HTTP0 = int(sys.argv[1])
CLIENT0 = int(sys.argv[2])
api_client.configure(HTTP0, CLIENT0)


def info(node, field):
    out = subprocess.run(["redis-cli", "-p", str(CLIENT0 + node - 1), "INFO",
                          "everything"], capture_output=True, text=True,
                         timeout=20).stdout
    for line in out.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def request(node, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", HTTP0 + node - 1, timeout=20)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers=headers or {})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text), r.headers
    except ValueError:
        return r.status, text, r.headers


class Sub:
    """An EventSource: reads "event:"/"id:"/"data:" blocks."""

    def __init__(self, node):
        self.c = http.client.HTTPConnection("127.0.0.1", HTTP0 + node - 1,
                                            timeout=30)
        self.c.request("GET", "/api/stream")
        self.r = self.c.getresponse()
        self.status = self.r.status
        self.type = self.r.getheader("Content-Type", "")

    def next(self):
        ev = {"event": "message", "id": None, "data": ""}
        while True:
            line = self.r.readline().decode()
            if line == "":
                return None
            line = line.rstrip("\n")
            if line == "":
                if ev["data"]:
                    ev["data"] = json.loads(ev["data"])
                    return ev
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                ev["data"] += v
            elif k in ("event", "id"):
                ev[k] = v

    def until(self, pred, seconds, seen=None):
        end = time.time() + seconds
        while time.time() < end:
            ev = self.next()
            if ev is None:
                return None
            if seen is not None:
                seen.append(ev)
            if pred(ev):
                return ev
        return None

    def close(self):
        self.c.sock.shutdown(socket.SHUT_RDWR)
        self.c.close()


# ---- stats, and records from every node ---------------------------------------
s = Sub(1)
check(s.status == 200 and s.type.startswith("text/event-stream"),
      "GET /api/stream answers 200 text/event-stream")
st = s.until(lambda e: e["event"] == "stats" and
             len(e["data"].get("nodes", {})) == 3, 30)
check(st is not None, "a stats event names the three nodes")
if st:
    d = st["data"]
    n2 = d["nodes"].get("n2", {})
    check(d.get("node") == "n1" and d.get("n") == 3 and d.get("ring_epoch", 0)
          >= 1, "stats: the serving node, N and the ring epoch")
    check(all(k in n2 for k in ("status", "ops_per_sec", "p99_us", "keys",
                                 "hints_held", "hints_by_owner",
                                 "used_memory", "http", "killed")),
          "stats: each node's status, ops/s, p99, keys, hints, memory, http, "
          "killed")
    check(n2.get("http") == "127.0.0.1:%d" % (HTTP0 + 1),
          "stats: a member's http address comes from its INFO")

st_, body, _ = request(2, "PUT", "/api/data/streamed", {"value": "v1"})
check(st_ == 200, "PUT through n2's API")
seen = []
tr = s.until(lambda e: e["event"] == "trace" and
             e["data"].get("key") == "streamed" and
             e["data"].get("op") == "dynamo.put", 30, seen)
check(tr is not None and tr["data"].get("coordinator") == "n2" and
      tr["data"].get("outcome") == "ok" and tr["data"].get("node") == "n2",
      "n1's stream carries the trace n2 recorded for that PUT, finished")

# DYNAMO.TRACE SINCE over RESP: what the stream asks each member
all_ = rcli(2, "DYNAMO.TRACE", "SINCE", "0")
one = rcli(2, "DYNAMO.TRACE", "SINCE", "0", "1")
check("dynamo.put" in all_ and all_.count("outcome") >= 2 and
      one.count("outcome") == 1,
      "DYNAMO.TRACE SINCE 0 lists n2's finished traces; max 1 the newest")
check("ERR" in rcli(2, "DYNAMO.TRACE", "SINCE", "x") and
      "ERR" in rcli(2, "DYNAMO.TRACE", "SINCE", "0", "0"),
      "DYNAMO.TRACE SINCE with a bad id or max: an error")

# ops/s: load through n2, seen in n1's stats for n2
subprocess.run(["redis-benchmark", "-p", str(CLIENT0 + 1), "-t", "set",
                "-n", "3000", "-q"], capture_output=True, timeout=120)
busy = s.until(lambda e: e["event"] == "stats" and
               e["data"]["nodes"].get("n2", {}).get("ops_per_sec", 0) > 0 and
               e["data"]["nodes"]["n2"].get("p99_us", 0) > 0, 30)
check(busy is not None, "stats: n2's ops/s and p99 while it takes load")

st_, _, _ = request(1, "POST", "/api/nodes/n3/kill", {})
check(st_ == 200, "POST /api/nodes/n3/kill")
ev = s.until(lambda e: e["event"] == "event" and e["data"].get("node") != "n1"
             and "n3" in json.dumps(e["data"]), 60)
check(ev is not None and ev["id"] and "n2:" in ev["id"],
      "an event about the killed n3, recorded by another node, with its "
      "cursor as id (%s)" % (ev and ev["data"].get("type")))
down = s.until(lambda e: e["event"] == "stats" and
               e["data"]["nodes"].get("n3", {}).get("status") != "up", 60)
check(down is not None, "stats: n3 no longer up")
request(1, "POST", "/api/nodes/n3/revive", {})
revived = s.until(lambda e: e["event"] == "event" and
                  e["data"].get("type") == "revive", 60)
check(revived is not None and revived["data"].get("node") == "n3",
      "n3's own revive event, once it answers again")

# ---- the cap, and a slot freed by a leaving subscriber ---------------------------
check(info(1, "http_stream_subscribers") == "1", "INFO counts one subscriber")
s2 = Sub(1)
check(s2.status == 200, "a second subscriber (http-stream-max 2)")
st3, b3, _ = request(1, "GET", "/api/stream")
check(st3 == 503 and "http-stream-max" in b3.get("error", ""),
      "a third gets 503 with a JSON error")
s.close()
s2.close()
end = time.time() + 20
while time.time() < end and info(1, "http_stream_subscribers") != "0":
    time.sleep(0.05)
check(info(1, "http_stream_subscribers") == "0",
      "closed subscribers free their slots")
r1 = info(1, "http_stream_rounds")
time.sleep(1.5)  # three poll periods: the counter must not move
check(info(1, "http_stream_rounds") == r1, "with nobody subscribed no poll runs")
s4 = Sub(1)
check(s4.status == 200 and s4.until(lambda e: e["event"] == "stats", 30),
      "a new subscriber is served again")

# ---- a reader that does not read is dropped ----------------------------------------
slow = socket.socket()
slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
slow.connect(("127.0.0.1", HTTP0))
slow.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
dropped0 = int(info(1, "http_stream_dropped") or 0)
end = time.time() + 90
while time.time() < end and int(info(1, "http_stream_dropped") or 0) == dropped0:
    # traces of writes through every node fill the stream
    for i in range(3):
        subprocess.run(["redis-benchmark", "-p", str(CLIENT0 + i), "-t", "set",
                        "-n", "2000", "-r", "1000", "-q"],
                       capture_output=True, timeout=120)
check(int(info(1, "http_stream_dropped") or 0) > dropped0,
      "a subscriber that leaves more than the bound unread is dropped")
slow.close()
s4.close()

# ---- member origins ------------------------------------------------------------------
member = "http://127.0.0.1:%d" % (HTTP0 + 2)
end = time.time() + 30
while True:
    st_, _, h = request(1, "GET", "/api/cluster/config",
                        headers={"Origin": member})
    if st_ == 200 or time.time() > end:
        break
    time.sleep(0.1)
check(st_ == 200 and h.get("Access-Control-Allow-Origin") == member and
      "Origin" in (h.get("Vary") or ""),
      "a member's origin gets its exact Access-Control-Allow-Origin and Vary")
st_, _, h = request(1, "OPTIONS", "/api/data/k",
                    headers={"Origin": member,
                             "Access-Control-Request-Method": "PUT",
                             "Access-Control-Request-Headers":
                                 "content-type"})
check(st_ == 204 and h.get("Access-Control-Allow-Origin") == member and
      "PUT" in h.get("Access-Control-Allow-Methods", "") and
      "Authorization" in h.get("Access-Control-Allow-Headers", ""),
      "its preflight: 204 with the methods and headers")
for origin in ("http://evil.example", "http://127.0.0.1:%d" % (HTTP0 + 50)):
    st_, b, h = request(1, "PUT", "/api/data/cors", {"value": "x"},
                        headers={"Origin": origin})
    check(st_ == 403 and "Access-Control-Allow-Origin" not in h,
          "a foreign origin (%s) gets 403 and no CORS header" % origin)
    st_, _, h = request(1, "OPTIONS", "/api/data/cors",
                        headers={"Origin": origin,
                                 "Access-Control-Request-Method": "PUT"})
    check(st_ == 403 and "Access-Control-Allow-Origin" not in h,
          "and so does its preflight")
st_, c, _ = request(1, "GET", "/api/cluster")
check(st_ == 200 and all(c["nodes"][n].get("http") == "127.0.0.1:%d" %
                         (HTTP0 + i) for i, n in enumerate(["n1", "n2", "n3"])),
      "/api/cluster: each node's http address")
api_client.finish()
