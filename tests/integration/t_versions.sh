#!/usr/bin/env bash
# t_versions.sh -- a key's version history (DYNAMO.VERSIONS, GET
# /api/versions/:key, issue #12) on a real 3-node cluster (N=3 R=2 W=2)
# with version-history 8 and version-history-keys 8:
#
#   1. bad arguments get errors over RESP; over HTTP a wrong method is a
#      405 with Allow and an unknown path a 404; an unknown key has an
#      empty history;
#   2. a SET through n1 is one version superseding nothing (an RPUSH's
#      version previews the list's first elements); two
#      DYNAMO.PUTs with the context of one GET, through n1 and n2, are two
#      versions each superseding it, both live (a conflict);
#   3. a DYNAMO.PUT with the merged context through n3 supersedes both and
#      is the only live version; a DEL supersedes it in turn, op "delete";
#   4. each version is listed once across the nodes, oldest first, and
#      only the coordinator of a write recorded it;
#   5. the bound: 12 SETs keep the last 8 versions of a key; writing 8
#      other keys evicts the least recently written key's history;
#   6. with n2 killed the history still answers (n2's part missing, and
#      said so when n2 was still thought up); n3 restarted empty forgets
#      what it recorded: its live version is still listed, from the quorum
#      read, as not recorded.
# No timing assertion: every wait polls with a generous deadline.
. "$(dirname "$0")/cluster_lib.sh"
need_cmd curl jq

cluster_start 3 --version-history 8 --version-history-keys 8 \
    --anti-entropy-interval-ms 1000

hport() { echo $(($(nport "$1") + 1000)); }
# api I PATH [curl args...]: the body; the status goes to $WORK/status
api() {
    local i=$1 path=$2
    shift 2
    curl -s -o "$WORK/body" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$(hport "$i")$path" >"$WORK/status"
    cat "$WORK/body"
}
status() { cat "$WORK/status"; }
versions() { api "$1" "/api/versions/$2"; }
# live_count I KEY: how many live dots a read through node I finds
live_count() { versions "$1" "$2" | jq -r '.live | length'; }
live_is() { [ "$(live_count "$1" "$2")" = "$3" ]; }
# dots I KEY: the history's dots, oldest first, space separated
dots() { versions "$1" "$2" | jq -r '[.versions[].dot] | join(" ")'; }
sup_of() { # I KEY DOT: the sorted dots DOT supersedes
    versions "$1" "$2" | jq -r --arg d "$3" \
        '[.versions[] | select(.dot == $d) | .supersedes[]] | sort | join(" ")'
}
field_of() { # I KEY DOT FIELD
    versions "$1" "$2" | jq -r --arg d "$3" --arg f "$4" \
        '.versions[] | select(.dot == $d) | .[$f]'
}
values_of() { ncli "$1" DYNAMO.GET "$2" | tail -n +2 | sort | tr '\n' ' '; }
has_values() { [ "$(values_of "$1" "$2")" = "$3" ]; }

# -- 1. bad arguments, paths and methods
assert_match "^ERR wrong number of arguments" "$(ncli 1 DYNAMO.VERSIONS)" \
    "DYNAMO.VERSIONS without a key is refused"
assert_match "^ERR syntax: DYNAMO.VERSIONS" "$(ncli 1 DYNAMO.VERSIONS a b c)" \
    "DYNAMO.VERSIONS a b c is refused"
assert_match "^ERR syntax: DYNAMO.VERSIONS" "$(ncli 1 DYNAMO.VERSIONS a b)" \
    "DYNAMO.VERSIONS a b (without KEY) is refused"
assert_match "^ERR syntax: DYNAMO.VERSIONS" "$(ncli 1 DYNAMO.VERSIONS CLUSTER)" \
    "DYNAMO.VERSIONS CLUSTER without a key is refused"
assert_eq "" "$(ncli 1 DYNAMO.VERSIONS CLUSTER nosuchkey)" \
    "an unknown key has no history anywhere"
api 1 /api/versions/k -X POST >/dev/null
assert_eq 405 "$(status)" "POST /api/versions/k is 405"
assert_eq GET "$(curl -s -D - -o /dev/null -X DELETE \
    "http://127.0.0.1:$(hport 1)/api/versions/k" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "allow" { print $2 }')" "with Allow: GET"
api 1 /api/versions >/dev/null
assert_eq 404 "$(status)" "GET /api/versions (no key) is 404"
api 1 /api/versionz/k >/dev/null
assert_eq 404 "$(status)" "GET /api/versionz/k is 404"
assert_eq "error" "$(api 1 /api/versionz/k | jq -r 'keys[0]')" \
    "and the 404 says why in JSON"
body=$(versions 2 nosuchkey)
assert_eq 200 "$(status)" "GET /api/versions/nosuchkey is 200"
assert_eq '8 0 0' "$(jq -r '"\(.bound) \(.versions | length) \(.live | length)"' <<<"$body")" \
    "with the bound (version-history 8), no versions and nothing live"

# -- 2. a version, then two concurrent ones
K="ver:$RANDOM"
assert_eq OK "$(ncli 1 SET "$K" v1)" "SET $K v1 through n1"
V1=$(ncli 1 DYNAMO.VERSIONS KEY "$K" | awk 'p == "dot" { print } { p = $0 }')
assert_match '^n1:[0-9]+$' "$V1" "n1 recorded the version it made: $V1"
assert_eq "" "$(ncli 2 DYNAMO.VERSIONS "$K")" "n2 recorded nothing (it only replicated)"
assert_eq "" "$(sup_of 3 "$K" "$V1")" "v1 supersedes nothing"
assert_eq "v1" "$(field_of 3 "$K" "$V1" value)" "its value preview is v1"
assert_eq "put" "$(field_of 3 "$K" "$V1" op)" "its op is put"
assert_eq "n1" "$(field_of 3 "$K" "$V1" node)" "and n1 recorded it"

# a typed write's preview is what a client reads, its first items cut to
# 64 bytes (taken from the state the coordinator holds decoded)
L="verlist:$RANDOM"
args=() want="list:"
for ((i = 0; i < 40; i++)); do args+=("e$i"); want="$want e$i"; done
assert_eq 40 "$(ncli 1 RPUSH "$L" "${args[@]}")" "RPUSH of 40 elements through n1"
LV=$(ncli 1 DYNAMO.VERSIONS KEY "$L" | awk 'p == "dot" { print } { p = $0 }' | tail -1)
assert_eq "${want:0:64}" "$(field_of 1 "$L" "$LV" value)" \
    "the list's version previews its first elements: ${want:0:64}"

CTX=$(ncli 1 DYNAMO.GET "$K" | head -1)
assert_eq OK "$(ncli 1 DYNAMO.PUT "$K" "$CTX" x)" "DYNAMO.PUT x with that context through n1"
assert_eq OK "$(ncli 2 DYNAMO.PUT "$K" "$CTX" y)" "DYNAMO.PUT y with the same context through n2"
if wait_for 30 live_is 3 "$K" 2; then
    ok "a read finds two live versions"
else
    fail "live versions: $(versions 3 "$K" | jq -c .live)"
fi
body=$(versions 3 "$K")
X=$(jq -r '.versions[] | select(.value == "x") | .dot' <<<"$body")
Y=$(jq -r '.versions[] | select(.value == "y") | .dot' <<<"$body")
assert_match '^n1:[0-9]+$' "$X" "x's version is n1's: $X"
assert_match '^n2:[0-9]+$' "$Y" "y's version is n2's: $Y"
assert_eq "$V1" "$(sup_of 3 "$K" "$X")" "x supersedes v1"
assert_eq "$V1" "$(sup_of 3 "$K" "$Y")" "y supersedes v1"
assert_eq "$(printf '%s\n' "$X" "$Y" | sort | tr '\n' ' ')" \
    "$(jq -r '.live[]' <<<"$body" | sort | tr '\n' ' ')" "x and y are both live"
assert_eq "n2" "$(jq -r --arg d "$Y" '.versions[] | select(.dot == $d) | .actor' <<<"$body")" \
    "y's actor is n2"
assert_contains "$Y" "$(jq -r --arg d "$Y" '.versions[] | select(.dot == $d) | .clock' <<<"$body")" \
    "y's clock holds its own dot"
assert_contains "$V1" "$(jq -r --arg d "$Y" '.versions[] | select(.dot == $d) | .clock' <<<"$body")" \
    "and v1's, from the context"

# -- 3. a write with the merged context resolves them; a DEL follows
if wait_for 30 has_values 3 "$K" "x y "; then
    ok "a read through n3 returns both siblings"
else
    fail "n3 reads [$(values_of 3 "$K")]"
fi
CTX2=$(ncli 3 DYNAMO.GET "$K" | head -1)
assert_eq OK "$(ncli 3 DYNAMO.PUT "$K" "$CTX2" z)" "DYNAMO.PUT z with the merged context through n3"
body=$(versions 1 "$K")
Z=$(jq -r '.versions[] | select(.value == "z") | .dot' <<<"$body")
assert_match '^n3:[0-9]+$' "$Z" "z's version is n3's: $Z"
assert_eq "$(printf '%s\n' "$X" "$Y" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "$(sup_of 1 "$K" "$Z")" "z supersedes x and y (not v1, their ancestor)"
assert_eq "$Z" "$(jq -r '.live | join(" ")' <<<"$body")" "z is the only live version"

# -- 4. once each, oldest first, recorded by its coordinator
assert_eq "$V1 $X $Y $Z" "$(dots 2 "$K")" "four versions, oldest first"
assert_eq 4 "$(versions 2 "$K" | jq '[.versions[].dot] | unique | length')" \
    "each dot listed once"
assert_eq "n1 n1 n2 n3" "$(versions 2 "$K" | jq -r '[.versions[].node] | join(" ")')" \
    "each recorded by the node that coordinated it"
assert_eq true "$(versions 2 "$K" | jq '[.versions[].recorded] | all')" \
    "all of them recorded"
assert_eq 4 "$(ncli 1 DYNAMO.VERSIONS CLUSTER KEY "$K" | grep -cx dot)" \
    "DYNAMO.VERSIONS CLUSTER gathers the four from the three nodes"

assert_eq 1 "$(ncli 2 DEL "$K")" "DEL $K through n2"
body=$(versions 1 "$K")
D=$(jq -r '.versions[-1].dot' <<<"$body")
assert_match '^n2:[0-9]+$' "$D" "the delete is a version of n2's: $D"
assert_eq delete "$(jq -r '.versions[-1].op' <<<"$body")" "its op is delete"
assert_eq "$Z" "$(sup_of 1 "$K" "$D")" "it supersedes z"

# -- 5. the bounds
B="bound:$RANDOM"
for i in $(seq 1 12); do ncli 1 SET "$B" "b$i" >/dev/null; done
body=$(versions 2 "$B")
assert_eq 8 "$(jq '.versions | length' <<<"$body")" "12 SETs: the last 8 versions are kept"
assert_eq b5 "$(jq -r '.versions[0].value' <<<"$body")" "the oldest kept is the 5th"
assert_eq b12 "$(jq -r '.versions[-1].value' <<<"$body")" "the newest is the 12th"
first_sup=$(jq -r '.versions[0].supersedes | join(" ")' <<<"$body")
assert_match '^n1:[0-9]+$' "$first_sup" "the oldest kept still names the one it replaced ($first_sup)"
assert_eq 0 "$(jq -r --arg d "$first_sup" '[.versions[] | select(.dot == $d)] | length' <<<"$body")" \
    "which the bound dropped"
assert_eq 8 "$(ncli 1 DYNAMO.VERSIONS "$B" | grep -cx dot)" "n1 holds 8 over RESP too"
# K's n1 versions are now n1's least recently written; 8 more keys evict them
for i in $(seq 1 8); do ncli 1 SET "evict:$i" v >/dev/null; done
assert_eq "" "$(ncli 1 DYNAMO.VERSIONS "$K")" \
    "8 other keys written through n1 evict $K's history there (version-history-keys 8)"
assert_eq "$Y $Z $D" "$(dots 3 "$K")" \
    "the versions n2 and n3 recorded of $K are still listed, n1's are gone"

assert_eq 8 "$(info_field 1 version_history_keys)" "INFO dynamo: n1's table holds 8 keys"
assert_match '^[1-9][0-9]*$' "$(info_field 1 version_history_evicted)" \
    "INFO dynamo counts the keys evicted"
assert_eq 23 "$(info_field 1 versions_recorded)" \
    "INFO dynamo counts n1's versions: v1, the list's, x, 12 of $B, 8 evicting keys"

# -- 5b. a killed node: the history answers without it
assert_eq OK "$(ncli 2 DYNAMO.KILL)" "DYNAMO.KILL n2"
body=$(versions 1 "$K")
assert_eq 200 "$(status)" "GET /api/versions/$K while n2 is killed is 200"
assert_eq 1 "$(jq '.live | length' <<<"$body")" "the live version is read from n1 and n3"
if jq -e 'has("history_error")' <<<"$body" >/dev/null; then
    ok "n2 did not answer in time: history_error says so ($(jq -c .history_error <<<"$body"))"
else
    assert_eq "$Z $D" "$(jq -r '[.versions[].dot] | join(" ")' <<<"$body")" \
        "n2 already down: n3's versions only"
fi
assert_eq OK "$(ncli 2 DYNAMO.REVIVE)" "DYNAMO.REVIVE n2"

# -- 6. a live version whose recorder forgot it
R="lost:$RANDOM"
assert_eq OK "$(ncli 3 SET "$R" r1)" "SET $R through n3"
RD=$(ncli 3 DYNAMO.VERSIONS "$R" | awk 'p == "dot" { print } { p = $0 }')
everywhere_r() { [ "$(ncli 1 DYNAMO.LOCAL "$R" | grep -cx r1)" = 1 ] &&
                 [ "$(ncli 2 DYNAMO.LOCAL "$R" | grep -cx r1)" = 1 ]; }
wait_for 30 everywhere_r || fail "r1 did not reach n1 and n2"
ctool restart 3 --empty >/dev/null 2>&1 || fail "restart n3"
body=$(versions 1 "$R")
assert_eq 200 "$(status)" "GET /api/versions/$R after n3 restarted"
assert_eq "$RD" "$(jq -r '.live | join(" ")' <<<"$body")" "its version is live"
assert_eq false "$(jq -r --arg d "$RD" '.versions[] | select(.dot == $d) | .recorded' <<<"$body")" \
    "and listed from the read, as not recorded"
assert_eq null "$(jq -r --arg d "$RD" '.versions[] | select(.dot == $d) | .node' <<<"$body")" \
    "by no node"
finish
