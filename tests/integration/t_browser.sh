#!/usr/bin/env bash
# t_browser.sh -- the dashboard in a real browser (issue #12): a 5-node
# cluster (tools/dynamo-cluster, n1..n5 with the JSON API and the page on
# client port + 1000; trace on; failures detected in about a second; anti-
# entropy in round robin, one partition a second, and no root sweeps, so a
# divergence made during a partition stays in view until the heal lets its
# hints through, or a round reaches it), and
# tests/browser/walkthrough.mjs driving Debian's chromium, headless,
# through playwright-core (tests/browser/package.json pins it; `npm ci`
# there, which tools/quickstart's test run does).  The walkthrough's
# steps, its checks and its screenshots (build dir:
# tests/browser-artifacts/) are described at its top.
#
# Skips (77) only when chromium or node is not installed.  Runs in the
# plain build only (Makefile.am says why).
. "$(dirname "$0")/cluster_lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "no chromium at $CHROMIUM (apt-get install chromium)"
command -v node >/dev/null 2>&1 || skip "no node (apt-get install nodejs npm)"
BROWSER_DIR="$TOP_SRCDIR/tests/browser"
[ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] ||
    harness_error "playwright-core is not installed: (cd tests/browser && npm ci), or tools/quickstart test"

ART="$TOP_BUILDDIR/tests/browser-artifacts"
rm -rf "$ART" && mkdir -p "$ART" || harness_error "cannot create $ART"

export DYNAMO_SPARES=2   # the Add node list is not empty
cluster_start 5 --trace-max 256 --gossip-interval-ms 250 \
    --suspect-timeout-ms 500 --down-timeout-ms 1500 \
    --anti-entropy-interval-ms 1000 --anti-entropy-sweep-interval-ms 0
bases=""
for i in 1 2 3 4 5; do bases+="${bases:+,}http://127.0.0.1:$(( $(nport "$i") + 1000 ))"; done

if DASH_HTTP="http://127.0.0.1:$(( CL_BASE + 1000 ))" NODE_HTTP="$bases" \
    ARTIFACTS="$ART" CHROMIUM="$CHROMIUM" \
    timeout 1200 node "$BROWSER_DIR/walkthrough.mjs"; then
    ok "the walkthrough passed (screenshots in $ART)"
else
    fail "the walkthrough (see the FAIL lines above; screenshots in $ART)"
fi
finish
