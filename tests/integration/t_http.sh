#!/usr/bin/env bash
# t_http.sh -- the JSON API (http-port, issue #12) on a real 3-node
# cluster, driven over HTTP by http_check.py with python's urllib: every
# endpoint's shape (cluster, config, data with siblings and contexts, scan,
# ring, a key's preference list, faults, kill and revive, join and leave,
# metrics), the error codes on bad input (400, 404, 405 with Allow,
# 413, 503), the password (401, Bearer, Basic), the Host and Origin checks
# (403, nothing written), and the same bad input over RESP giving an
# error too.  tools/dynamo-cluster gives node i the http port
# client + 1000.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3
if "$PYTHON" "$TOP_SRCDIR/tests/integration/http_check.py" \
    "$((CL_BASE + 1000))" "$CL_BASE"; then
    ok "the JSON API behaves as specified"
else
    fail "the JSON API (see the FAIL lines above)"
fi
finish
