#!/usr/bin/env python3
"""Compares `efsearch grid` runs of one store: do two seeds rank the (alpha, beta, gamma) points alike?

Reads the ranking efsearch prints (highest rung first, then the lower validation loss at that rung where an
observation has it and the run ranks by loss, then accuracy, then fewer MACs, then the older candidate; a candidate's twins, the points
with the same proxy network, right after it) and prints for each run its choice,
its top three and its training seconds, and for each pair of runs Spearman's rho between their rankings (the
positions are distinct, so rho = 1 - 6 sum d^2 / (n (n^2 - 1))) and where each run's choice stands in the other.

A name of the form RUN1+RUN2+RUN3 stands for those runs together (several seeds of one setting): its ranking
orders the points by their mean position in the member runs (ties by the first member's order), its accuracy is
the mean accuracy and its seconds the sum.

Run: python3 scripts/compare_grid_runs.py results/efsearch.sqlite RUN1 RUN2 [RUN3 ...]
     python3 scripts/compare_grid_runs.py results/efsearch.sqlite S1+S2+S3 S4+S5+S6
Standard library only.
"""
import json
import sqlite3
import sys


def losses(db, name):
    """Each candidate's validation loss at its highest observed rung, for runs whose plan ranks by loss (runs made
    before that rule ranked by accuracy, and efsearch still ranks them so)."""
    config = db.execute("SELECT config FROM runs WHERE name = ?", (name,)).fetchone()
    if config is None or not json.loads(config[0]).get("plan", {}).get("grid", {}).get("ranksByLoss"):
        return {}
    result = {}
    for identifier, rung, loss in db.execute("""SELECT o.candidateId, o.rung, o.loss FROM observations o JOIN runs r ON r.id = o.runId
                                                WHERE r.name = ?""", (name,)):
        if identifier not in result or result[identifier][0] < rung:
            result[identifier] = (rung, loss)
    return {identifier: loss for identifier, (_, loss) in result.items()}


def ranking(db, name):
    rows = db.execute("""SELECT c.id, c.extra, c.accuracy, c.rung, c.macs, c.trainSeconds FROM candidates c
                         JOIN runs r ON r.id = c.runId WHERE r.name = ?""", (name,)).fetchall()
    if not rows:
        sys.exit(f"no grid candidates in run {name!r}")
    loss_of = losses(db, name)
    points = []
    for identifier, extra, accuracy, rung, macs, seconds in rows:
        point = json.loads(extra)
        score = accuracy if accuracy is not None else -1.0
        level = rung if accuracy is not None else -1
        # Candidates with a loss come before those without at the same rung, lower loss first.
        loss = loss_of.get(identifier) if accuracy is not None else None
        by_loss = (0, loss) if loss is not None else (1, 0.0)
        for order, coordinates in enumerate([point] + (point.get("twins") or [])):
            key = (coordinates["alpha"], coordinates["beta"], coordinates["gamma"])
            points.append(dict(key=key, accuracy=score, sort=(-level, by_loss, -score, macs, identifier, order),
                               seconds=(seconds or 0) if order == 0 else 0))
    points.sort(key=lambda p: p["sort"])
    return points


def combined(db, names):
    """The points ordered by their mean position over the runs `names`."""
    members = [ranking(db, name) for name in names]
    position = [{p["key"]: k for k, p in enumerate(points)} for points in members]
    if any(set(p) != set(position[0]) for p in position):
        sys.exit(f"runs {names} hold different points")
    points = []
    for key in position[0]:
        mean_position = sum(p[key] for p in position) / len(position)
        accuracy = sum(next(q["accuracy"] for q in points_ if q["key"] == key) for points_ in members) / len(members)
        seconds = sum(next(q["seconds"] for q in points_ if q["key"] == key) for points_ in members)
        points.append(dict(key=key, accuracy=accuracy, seconds=seconds, sort=(mean_position, position[0][key])))
    points.sort(key=lambda p: p["sort"])
    return points


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    db = sqlite3.connect(sys.argv[1])
    names = sys.argv[2:]
    runs = {name: combined(db, name.split("+")) if "+" in name else ranking(db, name) for name in names}
    for name, points in runs.items():
        print(f"{name}: {len(points)} points, chosen {points[0]['key']} at {100 * points[0]['accuracy']:.1f}%, "
              f"top three {[p['key'] for p in points[:3]]}, training {sum(p['seconds'] for p in points):.0f} s")
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            position_a = {p["key"]: k for k, p in enumerate(runs[a])}
            position_b = {p["key"]: k for k, p in enumerate(runs[b])}
            if set(position_a) != set(position_b):
                print(f"{a} and {b} hold different points; not compared")
                continue
            n = len(position_a)
            d2 = sum((position_a[k] - position_b[k]) ** 2 for k in position_a)
            rho = 1 - 6 * d2 / (n * (n * n - 1))
            print(f"{a} vs {b}: Spearman rho {rho:.3f}; {a}'s choice is #{position_b[runs[a][0]['key']] + 1} in {b}, "
                  f"{b}'s choice is #{position_a[runs[b][0]['key']] + 1} in {a}")


if __name__ == "__main__":
    main()
