#!/usr/bin/env bash
# The trained table of efsearch-benchmarks strategies: every candidate of searchspaces/tiny.yaml short-trained
# once on real handwritten digits (scikit-learn's bundled 1,797 8x8 digits, as scripts/export_digits_idx.py
# writes them: 1,437 train, 360 test), 2 epochs at 32 px, the default recipe otherwise, seed 0 (a grid run),
# exported as CSV and gzip-compressed. About an hour on one core (THREADS=1), half that on two.
#   swift build -c release && pip install scikit-learn && scripts/make_digits_table.sh
#   # writes benchmarks/tiny-digits-accuracy-macs.csv.gz
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${EFSEARCH:-.build/release/efsearch}
work=${WORK:-$(mktemp -d)}
python3 scripts/export_digits_idx.py "$work/digits" > /dev/null
# --resume continues an interrupted table in the same WORK folder.
if [ -f "$work/table.sqlite" ]; then
    "$bin" nas --resume table --store "$work/table.sqlite" > "$work/log.txt" 2>&1
else
    "$bin" nas --space searchspaces/tiny.yaml --strategy grid --budget 100000 --generation 100 --fidelity train \
        --dataset "mnist:$work/digits" --epochs 2 --objectives accuracy,macs --seed 0 --threads "${THREADS:-2}" \
        --store "$work/table.sqlite" --run table > "$work/log.txt" 2>&1
fi
"$bin" export table --store "$work/table.sqlite" --out "$work/export" > /dev/null
mkdir -p benchmarks
gzip -9 -n -c "$work/export/candidates.csv" > benchmarks/tiny-digits-accuracy-macs.csv.gz
echo "wrote benchmarks/tiny-digits-accuracy-macs.csv.gz: $(($(gzip -dc benchmarks/tiny-digits-accuracy-macs.csv.gz | wc -l) - 1)) candidates"
