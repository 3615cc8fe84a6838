#!/usr/bin/env python3
"""Damages copies of an efsearch SQLite store in several ways and opens each with the commands that read a store.

Every exit must be 0 or 2 (2 with a message that names the store); anything else (1, a signal, a message without
the store's path) is reported. Used by hand and by the CLI tests' damaged-store test (which runs the same damages
in Swift); prints a tally and exits 1 when any run broke the rule.

  python3 scripts/damage_store.py --efsearch .build/release/efsearch --store results/efsearch.sqlite --run NAME
"""
import argparse, os, random, shutil, subprocess, sys, tempfile


def damaged_copies(source, folder, count, seed):
    data = open(source, "rb").read()
    rng = random.Random(seed)
    for index in range(count):
        kind = ("truncate", "flip", "tail")[index % 3]
        out = bytearray(data)
        if kind == "truncate":
            out = out[: rng.randrange(1, len(out))]
        elif kind == "flip":
            for _ in range(rng.choice((1, 8, 64))):
                position = rng.randrange(0, len(out))
                out[position] ^= 1 << rng.randrange(8)
        else:
            out = out[: len(out) - rng.randrange(1, 4096)]
        path = os.path.join(folder, f"damaged-{index:02d}-{kind}.sqlite")
        open(path, "wb").write(out)
        yield path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--efsearch", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tally, broken = {}, []
    with tempfile.TemporaryDirectory() as folder:
        for path in damaged_copies(args.store, folder, args.copies, args.seed):
            commands = [["runs"], ["frontier", args.run], ["export", args.run, "--out", os.path.join(folder, "export")],
                        ["report", args.run, "--out", os.path.join(folder, "report")], ["nas", "--resume", args.run]]
            for command in commands:
                scratch = path + ".try"
                shutil.copy(path, scratch)
                result = subprocess.run([args.efsearch, *command, "--store", scratch], capture_output=True, text=True, timeout=300)
                tally[result.returncode] = tally.get(result.returncode, 0) + 1
                if result.returncode not in (0, 2) or (result.returncode == 2 and scratch not in result.stderr):
                    broken.append((os.path.basename(path), command[0], result.returncode, result.stderr.strip()[:300]))
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(scratch + suffix):
                        os.remove(scratch + suffix)
    print("exit codes:", ", ".join(f"{code}: {n}" for code, n in sorted(tally.items())))
    for row in broken:
        print("BROKEN", *row)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
