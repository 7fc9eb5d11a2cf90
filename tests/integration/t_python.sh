#!/usr/bin/env bash
# t_python.sh -- redis-py (Debian's python3-redis, /usr/bin/python3) against
# the server; the checks are in python_client.py.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "$PYTHON has no redis module (apt-get install python3-redis)"
start_server
"$PYTHON" "$TOP_SRCDIR/tests/integration/python_client.py" "$SRV_PORT"
rc=$?
case $rc in
    0) ok "python_client.py" ;;
    77) skip "python_client.py skipped" ;;
    *) fail "python_client.py (exit $rc)" ;;
esac
finish
