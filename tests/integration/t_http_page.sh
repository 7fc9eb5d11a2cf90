#!/usr/bin/env bash
# t_http_page.sh -- the dashboard page (issue #12) that every node serves
# from the bytes built into it (tools/embed-www, server/http/www.h): GET /
# is index.html, GET /ui/<name> its stylesheet and ES modules, each with
# its content type, Cache-Control no-cache and the strict CSP; every module
# the page imports (followed from app.js) is served and is byte for byte
# the file in server/http/www/; an unknown /ui/ name is a JSON 404; only
# GET (and HEAD) is allowed.  With requirepass the page itself loads
# without the password (it must, to ask for it) while the API answers 401;
# a foreign Host is refused for the page too.
. "$(dirname "$0")/lib.sh"
need_cmd curl

WWW="$TOP_SRCDIR/server/http/www"
HP=$(free_port) || exit 99
start_dynamod --http-port "$HP" --requirepass page-secret
URL="http://127.0.0.1:$HP"

# fetch PATH [curl args]: body to $WORK/body, headers to $WORK/hdr;
# prints the status code.
fetch() {
    local path=$1
    shift
    curl -s -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' "$@" "$URL$path"
}
header() { # NAME: the value of a response header (last one)
    tr -d '\r' <"$WORK/hdr" | sed -n "s/^$1: //Ip" | tail -n 1
}

# the page
code=$(fetch /)
assert_eq "200" "$code" "GET / answers without the password"
assert_eq "text/html; charset=utf-8" "$(header Content-Type)" "GET / is html"
assert_eq "no-cache" "$(header Cache-Control)" "GET / may not be cached stale"
assert_contains "script-src 'self'" "$(header Content-Security-Policy)" \
    "GET / comes with a CSP that allows only the node's own scripts"
if cmp -s "$WORK/body" "$WWW/index.html"; then
    ok "GET / is server/http/www/index.html byte for byte"
else
    fail "GET / differs from server/http/www/index.html"
fi
assert_contains 'src="/ui/app.js"' "$(cat "$WORK/body")" "the page loads /ui/app.js"

# the stylesheet
code=$(fetch /ui/style.css)
assert_eq "200" "$code" "GET /ui/style.css"
assert_eq "text/css; charset=utf-8" "$(header Content-Type)" "style.css is text/css"

# every module reachable from app.js, by its imports
todo="app.js"
seen=""
while [ -n "$todo" ]; do
    set -- $todo
    m=$1
    shift
    todo="$*"
    case " $seen " in *" $m "*) continue ;; esac
    seen="$seen $m"
    code=$(fetch "/ui/$m")
    assert_eq "200" "$code" "GET /ui/$m"
    assert_eq "text/javascript; charset=utf-8" "$(header Content-Type)" \
        "/ui/$m is a JavaScript module"
    assert_eq "no-cache" "$(header Cache-Control)" "/ui/$m: Cache-Control"
    if cmp -s "$WORK/body" "$WWW/$m"; then
        ok "/ui/$m is the repo's file byte for byte"
    else
        fail "/ui/$m differs from server/http/www/$m"
    fi
    for dep in $(grep -o "from '\./[A-Za-z0-9_-]*\.js'" "$WORK/body" |
        sed "s/from '\.\/\(.*\)'/\1/"); do
        todo="$todo $dep"
    done
done
n=$(echo $seen | wc -w)
nfiles=$(ls "$WWW"/*.js | wc -l)
assert_eq "$nfiles" "$n" "app.js reaches every module of server/http/www/"

# what is not there
code=$(fetch /ui/nope.js)
assert_eq "404" "$code" "an unknown /ui/ file is 404"
assert_eq "application/json" "$(header Content-Type)" "the 404 is the API's JSON error"
assert_contains '"error"' "$(cat "$WORK/body")" "the 404 body is {\"error\": ...}"
assert_eq "404" "$(fetch /ui/)" "GET /ui/ (no name) is 404"
assert_eq "404" "$(fetch /ui/../http.c --path-as-is)" "no path outside the table"
assert_eq "404" "$(fetch /index.html -H 'Authorization: Bearer page-secret')" \
    "only / and /ui/ serve the page"
assert_eq "405" "$(fetch / -X POST)" "POST / is 405"
assert_contains "GET" "$(header Allow)" "the 405 says Allow: GET"
assert_eq "200" "$(fetch /ui/app.js -I)" "HEAD /ui/app.js"

# the API still wants the password; the page's Host check still holds
assert_eq "401" "$(fetch /api/cluster)" "the API answers 401 without the password"
assert_eq "200" "$(fetch /api/cluster -H 'Authorization: Bearer page-secret')" \
    "the API answers with the password as Bearer"
assert_eq "403" "$(fetch / -H 'Host: evil.example')" \
    "a foreign Host is refused for the page (DNS rebinding)"
finish
