#!/usr/bin/env bash
# Regenerates readmodel/.sqlx, the query metadata that lets the sqlx macros check every query
# at compile time without a database (CI builds offline from it). Run it after changing a query
# or a migration; it needs the local stack's PostgreSQL (deployments/local/stack up).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
eval "$("$ROOT/deployments/local/stack" env)"
scratch="${SHOP_DATABASE_URL%/*}/shop_sqlx_prepare"
psql "$SHOP_DATABASE_URL" -q -c "DROP DATABASE IF EXISTS shop_sqlx_prepare" -c "CREATE DATABASE shop_sqlx_prepare"
for migration in "$ROOT"/readmodel/migrations/*.sql; do
  psql "$scratch" -q -v ON_ERROR_STOP=1 -f "$migration"
done
rm -rf -- "$ROOT/readmodel/.sqlx"
mkdir -p -- "$ROOT/readmodel/.sqlx"
# Touch the sources so the macros run again, online against the scratch database.
find "$ROOT/readmodel/src" "$ROOT/readmodel/tests" -name '*.rs' -exec touch {} +
(cd "$ROOT" && DATABASE_URL=$scratch SQLX_OFFLINE_DIR="$ROOT/readmodel/.sqlx" \
  cargo check --quiet -p shop-readmodel --all-targets)
psql "$SHOP_DATABASE_URL" -q -c "DROP DATABASE shop_sqlx_prepare"
echo "prepare-queries: $(ls "$ROOT/readmodel/.sqlx" | wc -l) queries in readmodel/.sqlx"
