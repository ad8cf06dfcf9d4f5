#!/usr/bin/env bash
# Start `prismrec serve` in the background on the demo model, wait until it is ready, post one
# event, show the fresh recommendations (titles), and print how to call it, ending with the web
# page's URL. `make stop` stops it.
# Usage: scripts/serve-demo.sh BIN_DIR OUT_DIR PORT
set -euo pipefail
BIN="$1"; OUT="$2"; PORT="$3"
URL="http://127.0.0.1:${PORT}"
STORE="sqlite:${OUT}/state.db"

if [ -f "${OUT}/serve.pid" ] && kill -0 "$(cat "${OUT}/serve.pid")" 2>/dev/null; then
  kill "$(cat "${OUT}/serve.pid")" && sleep 1
fi
# a write key for the demo (only its hash is stored; the key itself is kept in OUT for you)
"${BIN}/prismrec" keys create --role write --store "${STORE}" > "${OUT}/api-key.txt" 2>/dev/null
KEY="$(cat "${OUT}/api-key.txt")"
nohup "${BIN}/prismrec" serve --model "${OUT}/prism" --store "${STORE}" --port "${PORT}" \
  > "${OUT}/serve.log" 2>&1 &
echo $! > "${OUT}/serve.pid"

"${BIN}/python" - "$URL" <<'EOF'
import sys, time, urllib.request
url = sys.argv[1] + "/readyz"
for _ in range(240):
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.5)
sys.exit("the service did not become ready; see the serve.log")
EOF

call() {  # method path [json body]
  "${BIN}/python" - "$URL" "$KEY" "$@" <<'EOF'
import json, sys, urllib.request
url, key, method, path = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
req = urllib.request.Request(url + path, data=body, method=method, headers={
    "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
out = json.load(urllib.request.urlopen(req))
items = out.get("items")
if items is not None:  # each item carries its catalogue fields: show the title
    print(f"  {out.get('source')}:")
    for i in items:
        fields = i.get("fields") or {}
        print(f"    {fields.get('title') or '?'} ({i['item_id']})")
else:
    print("  " + json.dumps(out))
EOF
}
echo "recommendations for a new user 'demo-user' (popular, diversified):"
call GET "/v1/users/demo-user/recommendations?k=8"
echo "POST /v1/events: demo-user watched Toy Story (1) and Toy Story 2 (3114)"
call POST /v1/events '{"events": [{"user_id": "demo-user", "item_id": "1", "event_type": "rating"}, {"user_id": "demo-user", "item_id": "3114", "event_type": "rating"}]}'
echo "the next recommendations already use those events:"
call GET "/v1/users/demo-user/recommendations?k=8"
cat <<EOF

prismrec is serving ${OUT}/prism at ${URL} (OpenAPI docs: ${URL}/docs, pid $(cat "${OUT}/serve.pid"), log ${OUT}/serve.log)
try:
  curl -H "Authorization: Bearer \$(cat ${OUT}/api-key.txt)" "${URL}/v1/users/1/recommendations?k=10&diversity=0.3&explain=true"
stop it with: make stop
the web page (paste the key from ${OUT}/api-key.txt, then open user 1 or demo-user):
  ${URL}/ui/
EOF
