#!/usr/bin/env bash
# SQL load benchmark: on the same seeded CSV and in the same run, times
#   (a) `sqlite3 .import` against a Tandem full load into SQLite,
#   (b) `psql \copy` against a Tandem full load into PostgreSQL,
#   (c) a Tandem re-run with no changes (both targets),
#   (d) a Tandem re-run with 1% of the rows changed (updates, inserts, deletes).
# Tandem runs as a user runs it: the release `tandem` binary with the file
# and sql connector plugins, from a manifest.
#
# usage: bench/sql/run.sh [ROWS]        (default 1000000)
# env:   BENCH_DIR   work folder (default /tmp/tandem-bench-sql)
#        BENCH_PG    PostgreSQL server URL without database
#                    (default postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROWS=${1:-1000000}
WORK=${BENCH_DIR:-/tmp/tandem-bench-sql}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
export PGOPTIONS="-c client_min_messages=warning"

need() {
  command -v "$1" >/dev/null && return
  echo "installing $2"
  apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
}
need sqlite3 sqlite3
need psql postgresql-client
need python3 python3

echo "== build (release)"
cargo build --release -q -p tandem-host -p tandem-connector-file -p tandem-connector-sql
cargo build --release -q -p tandem-connector-sql --example write_speed
TANDEM="$ROOT/target/release/tandem"
WRITE_SPEED="$ROOT/target/release/examples/write_speed"

echo "== data: $ROWS rows x 6 columns (seeded)"
mkdir -p "$WORK/data"
if [ ! -f "$WORK/data/base.csv" ] || [ "$(($(wc -l < "$WORK/data/base.csv") - 1))" != "$ROWS" ]; then
  python3 bench/sql/gen.py "$WORK/data" "$ROWS"
fi
ls -l "$WORK/data"

DDL="CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, email TEXT, city TEXT, amount BIGINT, score DOUBLE PRECISION)"
psql_do() { psql "$PG/postgres" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

cat > "$WORK/bench.toml" <<EOF
[plugins]
file = "$ROOT/target/release/libtandem_connector_file.so"
sql = "$ROOT/target/release/libtandem_connector_sql.so"

[endpoints.csv]
type = "file"
path = "data/current.csv"
key = ["id"]

[endpoints.sqlite]
type = "sql"
url = "sqlite://tandem.db"

[endpoints.pg]
type = "sql"
url = "$PG/bench_tandem"

[pairs.to_sqlite]
a = "csv"
b = "sqlite"
a_entity = "current"
b_entity = "customers"
mode = "send"
resolver = "a_wins"
batch_size = 10000

[pairs.to_pg]
a = "csv"
b = "pg"
a_entity = "current"
b_entity = "customers"
mode = "send"
resolver = "a_wins"
batch_size = 10000

[store]
url = "sqlite://store.db"
EOF

RESULTS=()
# time LABEL COMMAND...: runs the command, prints and keeps the seconds.
timed() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; echo "FAILED: $label" >&2; exit 1; }
  end=$(date +%s.%N)
  local secs
  secs=$(python3 -c "print(f'{$end - $start:.2f}')")
  printf '%-48s %8s s\n' "$label" "$secs"
  RESULTS+=("$label|$secs")
}
sync() { (cd "$WORK" && "$TANDEM" --manifest bench.toml sync "$1"); }
count_sqlite() { sqlite3 "$1" "SELECT count(*) FROM customers"; }
count_pg() { psql "$PG/$1" -qAt -c "SELECT count(*) FROM customers"; }

rm -f "$WORK"/import.db* "$WORK"/tandem.db* "$WORK"/store.db*
cp "$WORK/data/base.csv" "$WORK/data/current.csv"

echo "== (a) full load into SQLite"
sqlite3 "$WORK/import.db" "$DDL"
timed "sqlite3 .import" sqlite3 "$WORK/import.db" -cmd ".mode csv" ".import --skip 1 $WORK/data/base.csv customers"
sqlite3 "$WORK/tandem.db" "PRAGMA journal_mode=WAL; $DDL" >/dev/null
timed "tandem sync (csv -> sqlite), full load" sync to_sqlite
echo "rows: sqlite3 $(count_sqlite "$WORK/import.db"), tandem $(count_sqlite "$WORK/tandem.db")"

echo "== (b) full load into PostgreSQL"
for db in bench_copy bench_tandem; do
  psql_do "DROP DATABASE IF EXISTS $db" && psql_do "CREATE DATABASE $db"
  psql "$PG/$db" -qc "$DDL"
done
timed "psql \\copy" psql "$PG/bench_copy" -qc "\\copy customers FROM '$WORK/data/base.csv' CSV HEADER"
timed "tandem sync (csv -> postgres), full load" sync to_pg
echo "rows: psql $(count_pg bench_copy), tandem $(count_pg bench_tandem)"

echo "== (c) re-run with no changes"
timed "tandem sync (csv -> sqlite), no changes" sync to_sqlite
timed "tandem sync (csv -> postgres), no changes" sync to_pg

echo "== (d) re-run with 1% changed"
cp "$WORK/data/changed.csv" "$WORK/data/current.csv"
timed "tandem sync (csv -> sqlite), 1% changed" sync to_sqlite
timed "tandem sync (csv -> postgres), 1% changed" sync to_pg
expected=$(($(wc -l < "$WORK/data/changed.csv") - 1))
echo "rows: expected $expected, sqlite $(count_sqlite "$WORK/tandem.db"), postgres $(count_pg bench_tandem)"

echo "== (e) the sql connector alone: $ROWS upserts in one transaction, then a full read"
rm -f "$WORK"/alone.db*
psql_do "DROP DATABASE IF EXISTS bench_alone" && psql_do "CREATE DATABASE bench_alone"
for url in "sqlite://$WORK/alone.db" "$PG/bench_alone"; do
  while read -r verb count _ _ secs _; do
    printf '%-48s %8s s\n' "sql connector alone (${url%%:*}): $verb" "$secs"
    RESULTS+=("sql connector alone (${url%%:*}): $verb|$secs")
  done < <("$WRITE_SPEED" "$url" "$ROWS")
done

echo "== summary"
for r in "${RESULTS[@]}"; do
  printf '%-48s %8s s\n' "${r%%|*}" "${r##*|}"
done
