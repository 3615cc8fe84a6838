#!/usr/bin/env bash
# The table of efsearch-benchmarks strategies: every candidate of searchspaces/tiny.yaml evaluated once on the
# objectives naswot:max,macs:min at estimate fidelity (a grid run, seed 0), exported as CSV and gzip-compressed.
#   swift build -c release && scripts/make_strategy_table.sh      # writes benchmarks/tiny-naswot-macs.csv.gz
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EFSEARCH:-.build/release/efsearch}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" nas --space searchspaces/tiny.yaml --strategy grid --budget 100000 --generation 500 --fidelity estimate \
    --objectives naswot,macs --seed 0 --store "$work/table.sqlite" --run table > /dev/null
"$bin" export table --store "$work/table.sqlite" --out "$work/export" > /dev/null
mkdir -p benchmarks
gzip -9 -n -c "$work/export/candidates.csv" > benchmarks/tiny-naswot-macs.csv.gz
echo "wrote benchmarks/tiny-naswot-macs.csv.gz: $(($(gzip -dc benchmarks/tiny-naswot-macs.csv.gz | wc -l) - 1)) candidates"
