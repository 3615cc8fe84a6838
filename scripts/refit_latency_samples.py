#!/usr/bin/env python3
"""Refits latency models from calibrations' timings with each block weighting, and scores them on pooled checks.

`efsearch calibrate --samples FILE` writes every timed block, stand-alone unit and whole pass. This script reads
the networks back, takes each layer's latency unit and features from `efsearch estimate --per-layer --json
--latency-model MODEL` (the features the calibration's fit saw), refits the model as `Calibration.fit` does
(blocks jointly by weighted least squares, the stem, head and classifier on their own, then the whole pass:
scale * sum^exponent + constant + pooled bytes + weight bytes beyond a cache size), once per block weighting,
and scores each refit against several checks of the same networks as `scripts/score_latency_checks.py` does.

    scripts/refit_latency_samples.py --calibration samples_a.csv:model_a.json ... \\
        --check check1.csv:model_a.json --check check2.csv:model_b.json ...

Needs numpy and the efsearch binary (`--efsearch`, default .build/release/efsearch).
"""
import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_latency_checks import header, read_checks, score  # noqa: E402

BLOCK_UNITS = ["pointwise", "expansion", "projection", "dense", "depthwise3", "depthwise5", "depthwise7", "squeeze_excite"]
WEIGHTINGS = {
    "1/t^2": lambda block, total: 1 / block ** 2,
    "1/(t*T)": lambda block, total: 1 / (block * total),
}


class Network:
    """A network's rows as the model sees them: (name, unit, features), and its pooled and weight bytes."""

    def __init__(self, efsearch, model, item):
        if "preset" in item:
            arguments = [item["preset"]]
        else:
            arguments = ["--arch", item["arch"]] + [f"--{name}={item[name]}" for name in ("resolution", "stem", "head", "classes", "activation")]
        result = subprocess.run([efsearch, "estimate", "--json", "--per-layer", "--latency-model", model] + arguments,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"efsearch estimate {' '.join(arguments)}: {result.stderr.strip()}")
        rows = json.loads(result.stdout)["layers"]
        self.units = [(row["name"], row["latency_unit"], np.array(row["latency_features"])) for row in rows if "latency_unit" in row]
        self.pool = 4.0 * sum(row["pool_elements"] for row in rows)
        self.weights = 4.0 * sum(row["params"] for row in rows)


def read_calibration(path, efsearch, model):
    rows = list(csv.reader(open(path)))[1:]
    units, blocks, networks = [], [], []
    for row in rows:
        if row[0] == "unit":
            if row[1] == "conv_stem":
                units.append({})
            units[-1][row[2]] = float(row[4])
        elif row[0] == "block":
            if row[1] == "blocks.0.0":
                blocks.append({})
            blocks[-1][row[1]] = float(row[4])
        elif row[0] == "pass":
            fields = dict(item.split("=") for item in row[3].split())
            item = {"arch": row[1], **{name: int(fields[name]) for name in ("resolution", "stem", "head", "classes")},
                    "activation": fields["activation"]}
            networks.append((item, float(row[4])))
    return [(Network(efsearch, model, item), seconds, timed_units, timed_blocks)
            for (item, seconds), timed_units, timed_blocks in zip(networks, units, blocks)]


def independent(x, tolerance=1e-3):
    """`Calibration.independentColumns`."""
    kept, basis = [], []
    for column in range(x.shape[1]):
        v = x[:, column].astype(float)
        length = np.linalg.norm(v)
        if length == 0:
            continue
        v = v / length
        for _ in range(2):
            for q in basis:
                v = v - v.dot(q) * q
        left = np.linalg.norm(v)
        if left > tolerance:
            basis.append(v / left)
            kept.append(column)
    return kept


def least_squares(x, y, weights):
    scales = np.maximum(np.abs(x).max(0), 1e-30)
    root = np.sqrt(weights)
    return np.linalg.lstsq(x / scales * root[:, None], y * root, rcond=None)[0] / scales


def fit(calibration, weighting):
    x, y, w, stand_alone = [], [], [], {}
    for network, total, timed_units, timed_blocks in calibration:
        per_block = {}
        for name, unit, f in network.units:
            if unit in BLOCK_UNITS:
                vector = per_block.setdefault(".".join(name.split(".")[:3]), np.zeros(8 * len(BLOCK_UNITS)))
                index = BLOCK_UNITS.index(unit)
                vector[8 * index:8 * index + 8] += f
            elif unit in timed_units:
                stand_alone.setdefault(unit, []).append((f, timed_units[unit]))
        for name, seconds in timed_blocks.items():
            x.append(per_block[name])
            y.append(seconds)
            w.append(WEIGHTINGS[weighting](max(seconds, 1e-7), max(total, 1e-7)))
    x, y = np.array(x), np.array(y)
    used = independent(x)
    solution = np.zeros(x.shape[1])
    solution[used] = least_squares(x[:, used], y, np.array(w))
    model = {unit: solution[8 * i:8 * i + 8] for i, unit in enumerate(BLOCK_UNITS)}
    for unit, samples in stand_alone.items():
        fx = np.array([f for f, _ in samples])
        fy = np.array([s for _, s in samples])
        kept = independent(fx)
        model[unit] = np.zeros(8)
        model[unit][kept] = least_squares(fx[:, kept], fy, 1 / fy ** 2)
    model["depthwise"] = next((model[u] for u in ("depthwise7", "depthwise5", "depthwise3") if np.any(model[u])), np.zeros(8))
    sums = np.array([unit_sum(model, network) for network, *_ in calibration])
    seconds = np.array([total for _, total, *_ in calibration])
    pool = np.array([network.pool for network, *_ in calibration])
    weights = np.array([network.weights for network, *_ in calibration])
    best = None
    for cache in [None] + [float(1 << (20 + k)) for k in range(3, 8)]:
        if cache and (weights > cache).sum() < 5:
            continue
        for step in range(51):
            exponent = 0.8 + 0.005 * step
            columns = [sums ** exponent, np.ones_like(sums), pool] + ([np.maximum(0, weights - cache)] if cache else [])
            a = np.array(columns).T
            s = least_squares(a, seconds, 1 / seconds ** 2)
            if s[0] <= 0 or (cache and s[3] <= 0):
                continue
            error = np.sum((a @ s / seconds - 1) ** 2)
            if best is None or error < best[0]:
                best = (error, exponent, cache, s)
    _, exponent, cache, s = best
    model["pass"] = (s[0], exponent, s[1], s[2], cache, s[3] if cache else 0.0)
    return model


def unit_sum(model, network):
    return sum(max(0.0, float(model[unit] @ f)) for _, unit, f in network.units)


def predict(model, network):
    """`LatencyPredictor.pass`: the per-pass term as fitted, never below half the scaled sum."""
    scale, exponent, constant, pool, cache, beyond = model["pass"]
    units = scale * unit_sum(model, network) ** exponent
    term = constant + pool * network.pool + (beyond * max(0.0, network.weights - cache) if cache else 0.0)
    return max(units + term, 0.5 * units)


def split(item):
    path, _, model = item.rpartition(":")
    if not path:
        sys.exit(f"--calibration {item}: expected SAMPLES:MODEL")
    return path, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", action="append", required=True, metavar="SAMPLES:MODEL",
                        help="a calibration's --samples CSV and the model it wrote (for its features and reference pass)")
    parser.add_argument("--check", action="append", required=True, metavar="CSV:MODEL",
                        help="a check's CSV and the model it was made with (for its reference pass)")
    parser.add_argument("--efsearch", default=".build/release/efsearch")
    arguments = parser.parse_args()

    first, measured, items = read_checks(arguments.check)
    print("calibration  weighting  " + header(first))
    for item in arguments.calibration:
        path, model = split(item)
        with open(model) as file:
            reference = json.load(file)["probe_seconds"]
        calibration = read_calibration(path, arguments.efsearch, model)
        networks = [Network(arguments.efsearch, model, item) for item in items]
        for weighting in WEIGHTINGS:
            refit = fit(calibration, weighting)
            predicted = [predict(refit, network) / reference for network in networks]
            print(f"{path}  {weighting}  " + score(predicted, measured, first))


if __name__ == "__main__":
    main()
