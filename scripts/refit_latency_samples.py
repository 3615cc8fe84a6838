#!/usr/bin/env python3
"""Refits latency models from calibrations' timings with each block weighting, and scores them on pooled checks.

`efsearch calibrate --samples FILE` writes every timed block, stand-alone unit and whole pass. This script reads
the networks back (their layers from `efsearch estimate --per-layer --json`), computes the units' features as
`LatencyFeatures.of` does, refits the model as `Calibration.fit` does (blocks jointly by weighted least squares,
the stem, head and classifier on their own, then the whole pass: scale * sum^exponent + constant + pooled bytes
+ weight bytes beyond a cache size), once per block weighting, and scores each refit against several checks of
the same networks as `scripts/score_latency_checks.py` does (the geometric mean of each network's time relative
to the reference network).

    scripts/refit_latency_samples.py --calibration samples_a.csv:model_a.json ... \\
        --check check1.csv:model_a.json --check check2.csv:model_b.json ...

Needs numpy and the efsearch binary (`--efsearch`, default .build/release/efsearch). Only for AVX-512 models
(16 lanes), as calibrated on this project's machine.
"""
import argparse
import csv
import json
import math
import subprocess
import sys

import numpy as np

LANES = 16
BLOCK_UNITS = ["pointwise", "expansion", "projection", "dense", "depthwise3", "depthwise5", "depthwise7", "squeeze_excite"]
WEIGHTINGS = {
    "1/t^2": lambda block, total: 1 / block ** 2,
    "1/(t*T)": lambda block, total: 1 / (block * total),
}


def layers(efsearch, item, threads):
    if "preset" in item:
        arguments = [item["preset"]]
    else:
        arguments = ["--arch", item["arch"]] + [f"--{name}={item[name]}" for name in ("resolution", "stem", "head", "classes", "activation")]
    result = subprocess.run([efsearch, "estimate", "--json", "--per-layer", "--threads", str(threads)] + arguments,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"efsearch estimate {' '.join(arguments)}: {result.stderr.strip()}")
    return json.loads(result.stdout)["layers"]


def unit_of(row):
    if row["kind"] == "conv":
        if not row["name"].startswith("blocks."):
            return "stem" if row["name"] == "conv_stem" else "head"
        if row["kernel"] == 1 and row["stride"] == 1:
            if "activation" not in row:
                return "projection"
            return "expansion" if row["name"].endswith(".conv_pw") and row["input_size"] >= 8 else "pointwise"
        return "dense"
    if row["kind"] == "depthwise":
        return {3: "depthwise3", 5: "depthwise5", 7: "depthwise7"}.get(row["kernel"], "depthwise")
    return {"squeezeExcite": "squeeze_excite", "linear": "classifier"}.get(row["kind"])


def imbalance(rows, threads):
    if threads <= 1 or rows <= 0:
        return 1.0
    chunks = min(threads, rows)
    return (rows + chunks - 1) // chunks * threads / rows


def features(row, unit, threads, cache):
    """`LatencyFeatures.of` for the AVX-512 kernels at batch 1."""
    fused = unit == "expansion"
    padded = (row["out_channels"] + LANES - 1) // LANES * LANES
    share = imbalance(row["output_size"], threads)
    pairs = (row["out_channels"] + 31) // 32
    if row["kind"] == "conv" and (row["kernel"] > 1 or row["stride"] > 1) and threads > 1 and pairs >= 2 * threads \
            and row["kernel"] ** 2 * row["in_channels"] * row["out_channels"] > row["input_elements"]:
        share = imbalance(pairs, threads)
    output_taps = float(padded * row["output_size"] ** 2 * row["kernel"] ** 2)
    macs, taps = float(row["macs"]), 0.0
    if row["kind"] == "depthwise":
        macs = output_taps * share
    elif row["kind"] == "conv":
        macs = row["in_channels"] * output_taps * (share if row["kernel"] > 1 or row["stride"] > 1 or fused else 1)
        taps = output_taps * share if row["kernel"] > 1 else 0.0
    last = row["kind"] == "conv" and row["name"].startswith("blocks.") and ("activation" not in row or row["name"].endswith(".conv"))
    residual = 4.0 * row["held_elements"] if last and 0 < row["held_elements"] == row["output_elements"] else 0.0
    activation = 4.0 * (row["input_elements"] + (0 if fused else row["output_elements"])) + residual
    silu = float(row["output_elements"]) if row.get("activation") == "silu" else 0.0
    weights, inputs, outputs = 4.0 * row["params"], 4.0 * row["input_elements"], 4.0 * row["output_elements"]
    spill = (inputs if row["kind"] != "depthwise" and inputs > cache else 0.0) + (outputs if not fused and outputs > cache else 0.0)
    return np.array([1.0, macs, activation, weights, silu, weights if weights > cache else 0.0, taps, spill])


def independent(x, tolerance=1e-3):
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


class Network:
    def __init__(self, rows, threads, cache):
        self.units = [(row, unit, features(row, unit, threads, cache)) for row in rows for unit in [unit_of(row)] if unit]
        self.pool = 4.0 * sum(row["pool_elements"] for row in rows)
        self.weights = 4.0 * sum(row["params"] for row in rows)


def read_calibration(path, efsearch, threads, cache):
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
    return [(Network(layers(efsearch, item, threads), threads, cache), seconds, timed_units, timed_blocks)
            for (item, seconds), timed_units, timed_blocks in zip(networks, units, blocks)]


def fit(calibration, weighting):
    x, y, w, stand_alone = [], [], [], {}
    for network, total, timed_units, timed_blocks in calibration:
        per_block = {}
        for row, unit, f in network.units:
            if unit in BLOCK_UNITS:
                name = ".".join(row["name"].split(".")[:3])
                vector = per_block.setdefault(name, np.zeros(8 * len(BLOCK_UNITS)))
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
    scale, exponent, constant, pool, cache, beyond = model["pass"]
    return scale * unit_sum(model, network) ** exponent + constant + pool * network.pool \
        + (beyond * max(0.0, network.weights - cache) if cache else 0.0)


def kendall_tau(a, b):
    concordant = discordant = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            sign = (a[i] - a[j]) * (b[i] - b[j])
            concordant += sign > 0
            discordant += sign < 0
    return (concordant - discordant) / max(concordant + discordant, 1)


def split(item, option):
    path, _, model = item.rpartition(":")
    if not path:
        sys.exit(f"{option} {item}: expected CSV:MODEL")
    with open(model) as file:
        return path, json.load(file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", action="append", required=True, metavar="SAMPLES:MODEL",
                        help="a calibration's --samples CSV and the model it wrote (for its reference pass and cache size)")
    parser.add_argument("--check", action="append", required=True, metavar="CSV:MODEL",
                        help="a check's CSV and the model it was made with (for its reference pass)")
    parser.add_argument("--efsearch", default=".build/release/efsearch")
    arguments = parser.parse_args()

    checks = []
    for item in arguments.check:
        path, model = split(item, "--check")
        with open(path) as file:
            checks.append((list(csv.DictReader(file)), model["probe_seconds"]))
    first = checks[0][0]
    if any([r["network"] for r in rows] != [r["network"] for r in first] for rows, _ in checks):
        sys.exit("the checks are not of the same networks (made with different --seed)")
    measured = np.exp(np.mean([[math.log(float(r["drift_corrected_ms"]) / 1000 / probe) for r in rows] for rows, probe in checks], axis=0))
    random = np.array([r["group"] == "random" for r in first])
    print(f"{len(checks)} checks of {random.sum()} random networks and {(~random).sum()} presets")
    print("calibration  weighting  tau  mean-abs-error  within-10%  " + "  ".join(r["network"] for r in first if r["group"] == "preset"))
    for item in arguments.calibration:
        path, saved = split(item, "--calibration")
        if saved.get("vector_lanes") != LANES:
            sys.exit(f"{item}: only AVX-512 models (vector_lanes 16) are refitted")
        threads, cache = saved["key"]["threads"], saved.get("l2_cache_bytes") or float("inf")
        calibration = read_calibration(path, arguments.efsearch, threads, cache)
        networks = [Network(layers(arguments.efsearch, {"preset": r["network"]} if r["group"] == "preset" else
                                   {"arch": r["network"], **{n: int(r[n]) for n in ("resolution", "stem", "head", "classes")},
                                    "activation": r["activation"]}, threads), threads, cache) for r in first]
        for weighting in WEIGHTINGS:
            model = fit(calibration, weighting)
            predicted = np.array([predict(model, network) for network in networks]) / saved["probe_seconds"]
            error = predicted / measured - 1
            presets = "  ".join(f"{100 * e:+.1f}%" for e in error[~random])
            print(f"{path}  {weighting}  {kendall_tau(predicted[random], measured[random]):.3f}  {100 * np.mean(np.abs(error[random])):.1f}%  "
                  f"{100 * np.mean(np.abs(error[random]) <= 0.1):.0f}%  {presets}")


if __name__ == "__main__":
    main()
