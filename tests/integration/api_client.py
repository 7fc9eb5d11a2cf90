"""api_client.py -- what the JSON API's test scripts (http_check.py,
http_views.py, stream_check.py) share: the ok/FAIL lines, one HTTP call
to node i, a JSON error check, polling with a deadline, and redis-cli.

    import api_client
    from api_client import check, call, is_error, poll, rcli
    api_client.configure(http0, client0)   # node i: http0 + i - 1, ...
    ...
    api_client.finish()                    # exit 1 when a check failed

Node i (1, 2, ...) serves http on http0 + i - 1 and RESP on
client0 + i - 1.  Nothing here sleeps to wait except poll, which asks
again every 50 ms until its deadline.
"""
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

_http0 = 0
_client0 = 0
_failures = 0


def configure(http0, client0):
    global _http0, _client0
    _http0, _client0 = http0, client0


def check(cond, what):
    """Prints "ok   - what" or "FAIL - what" (counted); returns cond."""
    global _failures
    print(("ok   - " if cond else "FAIL - ") + what)
    sys.stdout.flush()
    if not cond:
        _failures += 1
    return cond


def finish():
    sys.exit(1 if _failures else 0)


def url(node, path):
    return "http://127.0.0.1:%d%s" % (_http0 + node - 1, path)


def call(node, method, path, body=None, raw=None, headers=None, timeout=30):
    """(status, parsed JSON or text, response headers); body is sent as
    JSON, raw as it is."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url(node, path), data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def is_error(resp, status, what):
    """Checks that a call's answer is `status` with a JSON {"error"}."""
    st, body, hdrs = resp
    ok = st == status and isinstance(body, dict) and \
        isinstance(body.get("error"), str) and \
        hdrs.get("Content-Type", "").startswith("application/json")
    check(ok, "%s: %d with a JSON error (got %s %s)" % (what, status, st,
                                                        str(body)[:120]))
    return body if isinstance(body, dict) else {}


def poll(fn, secs=30):
    """fn() until it is truthy or secs have passed; its last value."""
    end = time.time() + secs
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.05)


def rcli(node, *args, password=None):
    """redis-cli against node i; its output, stripped."""
    cmd = ["redis-cli", "-p", str(_client0 + node - 1)]
    if password:
        cmd += ["--no-auth-warning", "-a", password]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True,
                         timeout=30)
    return out.stdout.strip()
