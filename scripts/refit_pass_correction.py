#!/usr/bin/env python3
"""Scores the correction of whole passes (`LatencyModel.PassCorrection`) refitted offline on calibrations' timings.

For each calibration (`efsearch calibrate --samples FILE --out MODEL`), the model's uncorrected prediction of every
timed network (its `pass_correction` left out) is compared with the measured pass; a Gaussian process
(scikit-learn: constant * Matern(nu=2.5, one length scale per descriptor) + white noise) is fitted to the log ratios
over the descriptors efsearch uses (the logs of the network's weight bytes, its output bytes per pass and its
uncorrected predicted pass, scaled to [0, 1] over the calibration's networks), and applied to the networks of that
model's checks (`efsearch calibrate --check N --csv CHECK`). Prints, per check, the mean absolute error and the share
within 10% without and with the correction, and the presets' errors.

    scripts/refit_pass_correction.py --calibration samples.csv:model.json:check1.csv,check2.csv ...

Needs numpy, scikit-learn and the efsearch binary (`--efsearch`, default .build/release/efsearch).
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

NETWORK_FLAGS = ("resolution", "stem", "head", "classes", "activation")


def estimate(efsearch, model, arguments):
    result = subprocess.run([efsearch, "estimate", "--json", "--latency-model", model] + arguments, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"efsearch estimate {' '.join(arguments)}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def descriptors(item):
    """The logs of weight bytes, output bytes per pass (batch 1) and the uncorrected pass, as efsearch takes them."""
    return [math.log(4 * item["params"]), math.log(item["activation_bytes"]), math.log(item["latency_ms_predicted"] / 1000)]


def calibration_rows(path, efsearch, model):
    x, y = [], []
    for row in csv.reader(open(path)):
        if row[0] != "pass":
            continue
        settings = dict(part.split("=") for part in row[3].split())
        item = estimate(efsearch, model, ["--arch", row[1]] + [f"--{name}={settings[name]}" for name in NETWORK_FLAGS])
        x.append(descriptors(item))
        y.append(math.log(float(row[4]) * 1000 / item["latency_ms_predicted"]))
    return np.array(x), np.array(y)


def check_rows(path, efsearch, model):
    x, y, names = [], [], []
    for row in csv.DictReader(open(path)):
        arguments = [row["network"]] if row["group"] == "preset" else ["--arch", row["network"]] + [f"--{name}={row[name]}" for name in NETWORK_FLAGS]
        item = estimate(efsearch, model, arguments)
        x.append(descriptors(item))
        y.append(math.log(float(row["measured_ms"]) / item["latency_ms_predicted"]))
        names.append(row["network"] if row["group"] == "preset" else "")
    return np.array(x), np.array(y), names


def figures(log_ratios):
    errors = np.abs(np.expm1(-log_ratios))  # |predicted / measured - 1|
    return f"mean abs {100 * errors.mean():.1f}%, within 10% {100 * (errors <= 0.10).mean():.0f}%"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibration", action="append", required=True, help="SAMPLES.csv:MODEL.json:CHECK.csv[,CHECK.csv...]")
    parser.add_argument("--efsearch", default=".build/release/efsearch")
    args = parser.parse_args()
    for spec in args.calibration:
        samples, model_path, checks = spec.split(":")
        model = json.load(open(model_path))
        model.pop("pass_correction", None)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(model, file)
        try:
            x, y = calibration_rows(samples, args.efsearch, file.name)
            lower, upper = x.min(axis=0), x.max(axis=0)
            scaled = lambda values: (values - lower) / (upper - lower)
            mean, scale = y.mean(), y.std()
            kernel = ConstantKernel(1.0, (1e-3, 10)) * Matern(np.full(x.shape[1], 0.5), (0.05, 20), nu=2.5) + WhiteKernel(0.3, (1e-3, 2))
            process = GaussianProcessRegressor(kernel).fit(scaled(x), (y - mean) / scale)
            print(f"{samples}: {len(y)} networks; in sample {figures(y)} -> {figures(y - (process.predict(scaled(x)) * scale + mean))}")
            for check in checks.split(","):
                cx, cy, names = check_rows(check, args.efsearch, file.name)
                corrected = cy - (process.predict(scaled(cx)) * scale + mean)
                presets = [i for i, name in enumerate(names) if name]
                print(f"  {check}: {figures(cy)} -> {figures(corrected)}")
                print("    presets: " + ", ".join(f"{names[i]} {100 * math.expm1(-cy[i]):+.1f}% -> {100 * math.expm1(-corrected[i]):+.1f}%" for i in presets))
        finally:
            os.unlink(file.name)


if __name__ == "__main__":
    main()
