#!/usr/bin/env python3
"""Scores latency models against several checks of the same networks.

Every `efsearch calibrate --check N --csv FILE` made with the same `--seed` times the same networks. A network's
time in one check is taken relative to the reference network (its drift-corrected ms over the reference pass of
the model that check was made with), and the geometric mean over the checks is its measured time. Each model's
prediction, relative to its own reference pass, is compared with it: Kendall tau, mean absolute error, the
share within 10% (random networks) and each preset's error.

    scripts/score_latency_checks.py --check a.csv:model_a.json --check b.csv:model_a.json model_a.json model_b.json

With `--measured`, the times are the checks' measured milliseconds (the quietest round's median, what `bench`
reports; the geometric mean over the checks) and each model's prediction in milliseconds: models made at about
the same time are compared on the same timings, as a check compares its own model.

Needs the efsearch binary (`--efsearch`, default .build/release/efsearch) and nothing beyond the standard library.
"""
import argparse
import csv
import json
import math
import subprocess
import sys


def kendall_tau(a, b):
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else float("nan")


def reference_seconds(path):
    with open(path) as file:
        model = json.load(file)
    if "probe_seconds" not in model:
        sys.exit(f"{path}: no probe_seconds (a model from before the reference network)")
    return model["probe_seconds"]


def read_checks(arguments, absolute=False):
    """The checks named `CSV:MODEL`: their first check's rows, each network's measured time (the geometric mean over
    the checks of its time relative to the reference network, or with `absolute` of its measured seconds), and each
    network as an `estimate --jsonl` item."""
    checks = []
    for item in arguments:
        path, _, model = item.rpartition(":")
        if not path:
            sys.exit(f"--check {item}: expected CSV:MODEL")
        with open(path) as file:
            checks.append((list(csv.DictReader(file)), reference_seconds(model)))
    first = checks[0][0]
    for rows, _ in checks[1:]:
        if [row["network"] for row in rows] != [row["network"] for row in first]:
            sys.exit("the checks are not of the same networks (made with different --seed)")
    def time(rows, reference, i):
        return float(rows[i]["measured_ms"]) / 1000 if absolute else float(rows[i]["drift_corrected_ms"]) / 1000 / reference
    measured = [math.exp(sum(math.log(time(rows, reference, i)) for rows, reference in checks) / len(checks)) for i in range(len(first))]
    items = [{"preset": row["network"]} if row["group"] == "preset" else
             {"arch": row["network"], "resolution": int(row["resolution"]), "stem": int(row["stem"]), "head": int(row["head"]),
              "classes": int(row["classes"]), "activation": row["activation"]} for row in first]
    print(f"{len(checks)} checks of {sum(row['group'] == 'random' for row in first)} random networks and "
          f"{sum(row['group'] == 'preset' for row in first)} presets")
    return first, measured, items


def score(predicted, measured, first):
    """Kendall tau, mean absolute error and the share within 10% over the random networks, then each preset's
    error, as one line of text."""
    random = [i for i, row in enumerate(first) if row["group"] == "random"]
    presets = [i for i, row in enumerate(first) if row["group"] == "preset"]
    errors = [predicted[i] / measured[i] - 1 for i in range(len(first))]
    tau = kendall_tau([predicted[i] for i in random], [measured[i] for i in random])
    mae = sum(abs(errors[i]) for i in random) / len(random)
    within = sum(abs(errors[i]) <= 0.1 + 1e-12 for i in random) / len(random)
    return f"{tau:.3f}  {100 * mae:.1f}%  {100 * within:.0f}%  " + "  ".join(f"{100 * errors[i]:+.1f}%" for i in presets)


def header(first):
    return "tau  mean-abs-error  within-10%  " + "  ".join(row["network"] for row in first if row["group"] == "preset")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="append", required=True, metavar="CSV:MODEL",
                        help="a check's CSV and the model it was made with (for its reference pass)")
    parser.add_argument("--efsearch", default=".build/release/efsearch")
    parser.add_argument("--measured", action="store_true", help="score against the measured milliseconds, not times relative to the reference")
    parser.add_argument("models", nargs="+")
    arguments = parser.parse_args()

    first, measured, items = read_checks(arguments.check, absolute=arguments.measured)
    lines = "".join(json.dumps(item) + "\n" for item in items)
    print("model  " + header(first))
    for model in arguments.models:
        result = subprocess.run([arguments.efsearch, "estimate", "--jsonl", "-", "--latency-model", model],
                                input=lines, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{model}: {result.stderr.strip()}")
        reference = 1 if arguments.measured else reference_seconds(model)
        predicted = [json.loads(line)["latency_ms_predicted"] / 1000 / reference for line in result.stdout.splitlines() if line.strip()]
        print(f"{model}  " + score(predicted, measured, first))


if __name__ == "__main__":
    main()
