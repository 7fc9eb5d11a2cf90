#!/usr/bin/env bash
# t_http_stream.sh -- GET /api/stream and the member origins (issue #12) on a
# real 3-node cluster, driven by stream_check.py as an EventSource would:
# stats of every node each second; the trace of a PUT made through another
# node and the events of a kill, pulled from the nodes that recorded them;
# the subscriber cap (503), a closed subscriber freeing its slot and the
# polling stopping with the last one (INFO http_stream_subscribers and
# http_stream_rounds), a reader that does not read being dropped; a
# member's origin answered with its exact Access-Control-Allow-Origin and
# its preflight, a foreign one refused.
. "$(dirname "$0")/cluster_lib.sh"
need_cmd redis-benchmark

cluster_start 3 --http-stream-max 2
if "$PYTHON" "$TOP_SRCDIR/tests/integration/stream_check.py" \
    "$((CL_BASE + 1000))" "$CL_BASE"; then
    ok "the event stream and member origins behave as specified"
else
    fail "the event stream or member origins (see the FAIL lines above)"
fi
finish
