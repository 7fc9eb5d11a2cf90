#!/usr/bin/env bash
# t_http_views.sh -- the dashboard's cluster-wide views in the JSON API
# (issue #12) on a real 3-node cluster with anti-entropy off, driven by
# http_views.py: GET /api/merkle (a replica cut off by a fault misses a
# write, its partition shows divergent; after the fault is cleared and
# DYNAMO.AE ALL, in sync) and /api/merkle/:partition, GET /api/gossip
# (rounds recorded; a leave's news), GET /api/events merged over the
# cluster (a kill recorded on another node, the cursor, unanswered), a
# PUT's trace while a member is killed, the errors (400, 404, 405) and the
# RESP errors of DYNAMO.ROOTS, DYNAMO.GOSSIP and DYNAMO.EVENTS' cursor.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --anti-entropy-interval-ms 0 --trace-max 256
if "$PYTHON" "$TOP_SRCDIR/tests/integration/http_views.py" \
    "$((CL_BASE + 1000))" "$CL_BASE"; then
    ok "the dashboard's views behave as specified"
else
    fail "the dashboard's views (see the FAIL lines above)"
fi
finish
