#!/usr/bin/env bash
# t_hiredis.sh -- a C client on hiredis (hiredis_client.c, built by
# make check) against the server.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
CLIENT=$TOP_BUILDDIR/tests/integration/hiredis_client
[ -x "$CLIENT" ] || harness_error "$CLIENT not built (make check builds it)"
start_server
"$CLIENT" 127.0.0.1 "$SRV_PORT"
rc=$?
case $rc in
    0) ok "hiredis_client" ;;
    99) harness_error "hiredis_client could not connect" ;;
    *) fail "hiredis_client (exit $rc)" ;;
esac
finish
