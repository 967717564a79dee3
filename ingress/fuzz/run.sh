#!/usr/bin/env bash
# Property-based fuzzing of the HTTP API from its own OpenAPI document with Schemathesis
# (from PyPI, cached in a virtualenv): the whole pipeline runs (processors, projector,
# ingress) on fresh, prefixed topics and a database of its own, and every generated request
# must get an answer that is not a 5xx, within the request timeout (no hang).
# Needs the local stack running; prints "fuzz: N passed, M failed" last.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
readonly ROOT
readonly SCHEMATHESIS_VERSION=4.32.5
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shop-pipeline
VENV="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/debug
MAX_EXAMPLES=${SHOP_FUZZ_MAX_EXAMPLES:-100}

log() { printf 'fuzz: %s\n' "$*" >&2; }

if [[ ! -x $VENV/bin/schemathesis ]]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

eval "$("$ROOT/deployments/local/stack" env)"
(cd "$ROOT" && cargo build --quiet -p shop-topics -p shop-processors -p shop-readmodel -p shop-ingress --bins)

run_id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
export SHOP_TOPIC_PREFIX="fuzz_$run_id."
database="shop_fuzz_$run_id"
export SHOP_DATABASE_URL="${SHOP_DATABASE_URL%/*}/$database"
export SHOP_JWT_SECRET="fuzz-$run_id"
export SHOP_RATE_LIMIT_PER_SECOND=0
export SHOP_PAYMENT_TIMEOUT=5s
export SHOP_LOG=${SHOP_LOG:-warn}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SHOP_HTTP_ADDR="127.0.0.1:$port"
work=$(mktemp -d)
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "${SHOP_DATABASE_URL%/*}/shop" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

"$TARGET/shop-topics" apply >/dev/null
psql "${SHOP_DATABASE_URL%/*}/shop" -q -c "CREATE DATABASE $database"
for service in shop-processors shop-projector shop-ingress; do
  "$TARGET/$service" >"$work/$service.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://$SHOP_HTTP_ADDR/ready" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null "http://$SHOP_HTTP_ADDR/ready" || {
  tail -n 20 "$work"/*.log >&2
  log "the ingress never became ready"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
}

token=$("$TARGET/shop-token" --sub fuzz-admin --role admin --ttl 1h)
log "fuzzing http://$SHOP_HTTP_ADDR with $MAX_EXAMPLES examples per operation"
status=0
# From the scratch folder: whatever schemathesis writes next to itself stays out of the repo.
(cd "$work" && timeout 1200 "$VENV/bin/schemathesis" run "http://$SHOP_HTTP_ADDR/openapi.json" \
  --checks not_a_server_error \
  --request-timeout 35 \
  --max-examples "$MAX_EXAMPLES" \
  --generation-deterministic \
  -H "Authorization: Bearer $token" \
  --no-color >"$work/schemathesis.log" 2>&1) || status=$?
tail -n 25 "$work/schemathesis.log" >&2
if ((status == 0)); then
  echo "fuzz: 1 passed, 0 failed"
else
  log "schemathesis exited with $status (124 = the run hung past 20 minutes)"
  grep -iE "panic|error" "$work"/shop-*.log | tail -n 20 >&2 || true
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
