#!/usr/bin/env python3
"""Keeps README.md and docs/ true: every relative link resolves, and every command block marked runnable runs.

A runnable block is a ```sh fence right after a line `<!-- runnable -->`. Each one runs with `bash -e` in a
fresh temporary folder that holds links to the repository's `searchspaces/` and `scripts/`, with the release
build's `efsearch` first on PATH and its own store (`EFSEARCH_STORE`), so blocks cannot depend on one another or
on the developer's files. The last line says `N passed, N failed`; the exit status is 1 when anything failed.

  python3 scripts/check_docs.py [--efsearch .build/release/efsearch] [--only README.md]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def documents():
    yield os.path.join(ROOT, "README.md")
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            yield os.path.join(docs, name)


def broken_links(path, text):
    """Relative links whose file does not exist (web links and in-page anchors are not followed)."""
    folder = os.path.dirname(path)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#", 1)[0]
        if file and not os.path.exists(os.path.normpath(os.path.join(folder, file))):
            yield target


def runnable_blocks(text):
    """(line number, body) of each ```sh block right after `<!-- runnable -->`."""
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        if lines[index].strip() == "<!-- runnable -->" and index + 1 < len(lines) and lines[index + 1].strip() == "```sh":
            start = index + 2
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            yield start + 1, "\n".join(lines[start:end])
            index = end
        index += 1


def run_block(body, efsearch, cache):
    with tempfile.TemporaryDirectory(prefix="efsearch-docs-") as folder:
        for name in ("searchspaces", "scripts"):
            os.symlink(os.path.join(ROOT, name), os.path.join(folder, name))
        environment = dict(os.environ)
        environment["PATH"] = os.path.dirname(os.path.abspath(efsearch)) + os.pathsep + environment.get("PATH", "")
        environment["EFSEARCH_STORE"] = os.path.join(folder, "docs.sqlite")
        environment.setdefault("EFSEARCH_CACHE_DIR", cache)
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", body], cwd=folder, env=environment,
                                capture_output=True, text=True, timeout=900)
        return result.returncode, result.stdout, result.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--efsearch", default=os.path.join(ROOT, ".build", "release", "efsearch"))
    parser.add_argument("--only", help="check this one document (a path relative to the repository)")
    args = parser.parse_args()
    if not os.access(args.efsearch, os.X_OK):
        print(f"no efsearch binary at {args.efsearch}; build it first (swift build -c release)", file=sys.stderr)
        return 2
    passed = failed = 0
    # One cache for all blocks: the roofline's machine figures are measured once.
    cache = tempfile.mkdtemp(prefix="efsearch-docs-cache-")
    for path in documents():
        relative = os.path.relpath(path, ROOT)
        if args.only and relative != args.only:
            continue
        text = open(path, encoding="utf-8").read()
        for target in broken_links(path, text):
            failed += 1
            print(f"FAIL {relative}: the link {target} does not resolve")
        for line, body in runnable_blocks(text):
            status, out, err = run_block(body, args.efsearch, cache)
            if status == 0:
                passed += 1
                print(f"ok   {relative}:{line}")
            else:
                failed += 1
                print(f"FAIL {relative}:{line} exited with {status}\n--- block\n{body}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-2000:]}")
    print(f"docs: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
