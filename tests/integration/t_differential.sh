#!/usr/bin/env bash
# t_differential.sh -- the same raw RESP byte stream (differential.cmds) goes
# to Debian's redis-server 7.0 and to the server under test; their raw
# replies must match (differential.py does the comparing and lists every
# mismatch with both byte strings).
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_cmd redis-server
# dynamod has one database; Redis gets the same so SELECT agrees.
start_redis --databases 1
REF=$SRV_PORT
start_server --databases 1
TESTED=$SRV_PORT
if is_dynamod; then name=dynamod; else name=redis-2; fi
"$PYTHON" "$TOP_SRCDIR/tests/integration/differential.py" \
    "$TOP_SRCDIR/tests/integration/differential.cmds" "$REF" "$TESTED" redis "$name"
rc=$?
case $rc in
    0) ok "every reply matches redis-server" ;;
    1) fail "replies differ from redis-server (see FAIL lines above)" ;;
    *) harness_error "differential.py exited $rc" ;;
esac
assert_eq PONG "$(cli "$TESTED" PING 2>&1)" "the tested server is still up"
finish
