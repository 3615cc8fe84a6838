#!/usr/bin/env python3
"""Checks `efsearch report` in headless Chromium.

Makes a 200-candidate search on estimates and a grid run (on estimates) in a temporary store, writes their
reports, opens each in headless Chromium (no network; scripts given a virtual time budget), and fails on any
script error, unless the Pareto plot has one mark per finished candidate and its frontier marks are exactly
the candidates `efsearch frontier --json` lists. It also writes a 10,000-candidate report and requires it to stay
under 2 MB, and saves screenshots (--screenshots DIR). The last line is `N passed, M failed`.

With --store S --run NAME (repeatable), it checks those stored runs instead, e.g. the one `make run` made:
  python3 scripts/check_report.py --store results/efsearch.sqlite --run demo-20261207-110839

Needs Debian's chromium and a built efsearch (swift build -c release).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, **kw):
    result = subprocess.run(command, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium on PATH (apt-get install chromium)")


def browse(page, screenshot=None):
    """The page's DOM after its scripts ran, and Chromium's log."""
    flags = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
             "--enable-logging=stderr", "--v=0", "--window-size=1400,1100"]
    dom = subprocess.run(flags + ["--dump-dom", "file://" + page], capture_output=True, text=True, timeout=120)
    if screenshot:
        subprocess.run(flags + [f"--screenshot={screenshot}", "file://" + page], capture_output=True, text=True, timeout=120)
    return dom.stdout, dom.stderr


def check(binary, store, name, directory, screenshot):
    out = os.path.join(directory, name)
    run([binary, "report", name, "--store", store, "--out", out, "--svg"])
    page = os.path.join(out, "report.html")
    dom, log = browse(page, screenshot)
    match = re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', dom, re.S)
    if not match:
        raise RuntimeError(f"{name}: the page did not run its self-test")
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    problems = list(result["errors"])
    problems += [line for line in log.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]
    if result["marks"] != result["done"]:
        problems.append(f"{result['marks']} marks for {result['done']} finished candidates")
    frontier = sorted(json.loads(line)["id"] for line in run([binary, "frontier", name, "--store", store, "--json"]).stdout.splitlines() if line.strip())
    if result["frontier"] != frontier:
        problems.append(f"frontier marks {result['frontier']} but efsearch frontier lists {frontier}")
    for svg in ("pareto.svg", "progress.svg"):
        if not open(os.path.join(out, svg)).read().startswith("<svg"):
            problems.append(f"{svg} is not an SVG")
    if problems:
        raise RuntimeError(f"{name}: " + "; ".join(problems))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "efsearch"))
    parser.add_argument("--screenshots", help="directory for report screenshots (PNG)")
    parser.add_argument("--store", help="check runs of this store (with --run) instead of making new ones")
    parser.add_argument("--run", action="append", default=[], help="a stored run to check (repeatable; needs --store)")
    args = parser.parse_args()
    passed = failed = 0
    if args.store or args.run:
        if not (args.store and args.run):
            parser.error("--store and --run go together")
        with tempfile.TemporaryDirectory() as directory:
            for name in args.run:
                try:
                    result = check(args.binary, os.path.abspath(args.store), name, directory, None)
                    passed += 1
                    print(f"ok   {name}: {result['marks']} marks, frontier {result['frontier']}, no script errors")
                except Exception as error:
                    failed += 1
                    print(f"FAIL {error}")
        print(f"{passed} passed, {failed} failed")
        sys.exit(0 if failed == 0 else 1)
    with tempfile.TemporaryDirectory() as directory:
        store = os.path.join(directory, "efsearch.sqlite")
        space = os.path.join(ROOT, "searchspaces", "efficientnet-b0.yaml")
        run([args.binary, "nas", "--space", space, "--strategy", "nsga2", "--budget", "200", "--generation", "50", "--fidelity", "estimate",
             "--objectives", "macs,params", "--seed", "3", "--store", store, "--run", "estimate-200"])
        run([args.binary, "grid", "--phi", "1", "--step", "0.1", "--tolerance", "0.1", "--fidelity", "estimate", "--store", store, "--run", "grid"])
        for name in ("estimate-200", "grid"):
            shot = os.path.join(args.screenshots, f"report-{name}.png") if args.screenshots else None
            if shot:
                os.makedirs(args.screenshots, exist_ok=True)
            try:
                result = check(args.binary, store, name, directory, shot)
                passed += 1
                print(f"ok   {name}: {result['marks']} marks, frontier {result['frontier']}, no script errors")
            except Exception as error:
                failed += 1
                print(f"FAIL {error}")
        # Size: 10,000 candidates.
        run([args.binary, "nas", "--space", space, "--strategy", "random", "--budget", "10000", "--fidelity", "estimate",
             "--objectives", "macs,params", "--seed", "4", "--store", store, "--run", "estimate-10000"])
        out = os.path.join(directory, "big")
        run([args.binary, "report", "estimate-10000", "--store", store, "--out", out])
        size = os.path.getsize(os.path.join(out, "report.html"))
        if size < 2_000_000:
            passed += 1
            print(f"ok   estimate-10000: report.html is {size / 1e6:.2f} MB")
        else:
            failed += 1
            print(f"FAIL estimate-10000: report.html is {size / 1e6:.2f} MB, over 2 MB")
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
