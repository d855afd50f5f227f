#!/usr/bin/env bash
# Reads a generated 100k-row x 10-column xlsx through the spreadsheet
# connector and through bare calamine, in one release run, and prints both
# times and their ratio. Extra arguments go to the bench (none needed).
#   TANDEM_BENCH_ROWS=100000 TANDEM_BENCH_ROUNDS=5 bench/spreadsheet/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -p tandem-bench-spreadsheet --bench read_xlsx "$@"
