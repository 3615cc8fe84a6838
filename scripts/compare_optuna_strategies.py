#!/usr/bin/env python3
"""Optuna's samplers on the tables that `efsearch-benchmarks strategies` replays, printed as its table is.

A table holds every candidate of searchspaces/tiny.yaml with its genotype, MACs and a metric: NASWOT in
benchmarks/tiny-naswot-macs.csv.gz (scripts/make_strategy_table.sh), accuracy after a 2-epoch training on real digits
in benchmarks/tiny-digits-accuracy-macs.csv.gz (scripts/make_digits_table.sh). Each Optuna trial suggests every
choice of the genotype as an integer and is answered from the table; objectives the metric (maximise) and macs (minimise), the space's
constraint macs <= 30M given to the samplers as each trial's constraint (`Trial.set_constraint`). The hypervolume of the feasible trials after
12 (nas's default budget), 25, 50, 100 and 200 trials, as a fraction of the whole table's, with the reference point at the table's front's
nadir: the median and quartiles over 20 seeds, as efsearch's benchmark prints them. Optuna from PyPI, here only.

    pip install optuna          # GPSampler also needs torch
    python3 scripts/compare_optuna_strategies.py [--seeds 20]                      # the NASWOT table
    python3 scripts/compare_optuna_strategies.py --table benchmarks/tiny-digits-accuracy-macs.csv.gz --metric accuracy
"""
import argparse
import csv
import gzip
import json
import os
import statistics
import time

import optuna

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = 30_000_000  # the space's constraint, macs <= 30M
BUDGETS = [12, 25, 50, 100, 200]


def load(path, metric):
    rows = {}
    with gzip.open(path, "rt") as f:
        for row in csv.DictReader(f):
            rows[tuple(json.loads(row["genotype"]))] = (float(row[metric]), int(row["macs"]))
    return rows


def hypervolume(points, reference):
    """Exact 2-D hypervolume of points (costs to minimise) up to the reference."""
    volume, best = 0.0, reference[1]
    for x, y in sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1]):
        if y < best:
            volume += (reference[0] - x) * (best - y)
            best = y
    return volume


def front(points):
    return [p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)]


def quartiles(values):
    values = sorted(values)
    q = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values), q[0], q[2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default=os.path.join(ROOT, "benchmarks", "tiny-naswot-macs.csv.gz"))
    parser.add_argument("--metric", default="naswot", help="the table's column to maximise: naswot or accuracy")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--samplers", default="random,tpe,nsga2,gp")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="e.g. 12,25,50,100 (GPSampler slows as trials grow)")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = load(args.table, args.metric)
    counts = [max(g[i] for g in rows) + 1 for i in range(len(next(iter(rows))))]
    feasible = [(-n, m) for n, m in rows.values() if m <= LIMIT]
    whole = front(feasible)
    reference = (max(p[0] for p in whole), max(p[1] for p in whole))
    whole_volume = hypervolume(whole, reference)
    print(f"optuna {optuna.__version__}: {os.path.basename(args.table)}, {len(rows)} candidates, reference {args.metric} {-reference[0]:.4g}, macs {reference[1]}; {args.seeds} seeds")
    print("  sampler     " + "".join(f"{b} evaluations".ljust(24) for b in budgets))

    samplers = {
        "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
        "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    }
    try:
        import torch  # noqa: F401  GPSampler's dependency
        samplers["gp"] = lambda seed: optuna.samplers.GPSampler(seed=seed)
    except ImportError:
        print("  (gp: GPSampler needs torch, not installed here)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name, make in samplers.items():
        if name not in args.samplers.split(","):
            continue
        started = time.time()
        fractions = {b: [] for b in budgets}
        for seed in range(1, args.seeds + 1):
            points = []

            def objective(trial):
                genotype = tuple(trial.suggest_int(f"d{i}", 0, n - 1) if n > 1 else 0 for i, n in enumerate(counts))
                value, macs = rows[genotype]
                trial.set_constraint("macs", macs - LIMIT)  # feasible when <= 0
                points.append((-value, macs) if macs <= LIMIT else None)
                return value, macs

            study = optuna.create_study(directions=["maximize", "minimize"], sampler=make(seed))
            for budget in budgets:
                study.optimize(objective, n_trials=budget - len(study.trials))
                fractions[budget].append(hypervolume([p for p in points if p], reference) / whole_volume)
        cells = "".join("{:.3f} [{:.3f}, {:.3f}]    ".format(*quartiles(fractions[b])) for b in budgets)
        print(f"  {name:<12}{cells}({time.time() - started:.1f} s)")


if __name__ == "__main__":
    main()
