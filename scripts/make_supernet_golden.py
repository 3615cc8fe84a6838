#!/usr/bin/env python3
"""Writes Tests/SupernetTests/Fixtures/: a candidate extracted from a supernet, and timm's logits of it.

A supernet of Tests/SupernetTests/Fixtures/small.yaml (every elastic dimension) is trained for one epoch on the
built-in synthetic images with `efsearch supernet train`, and one candidate (kernel 3 from the supernet's 5
through the learned transform, a fused stage, width 0.5) is taken out with `efsearch supernet extract`, with its
batch-norm statistics recalibrated. The candidate's file is committed (candidate.safetensors); timm's EfficientNet
loads it with load_state_dict(strict=True), and its logits on the engine tests' standard input are committed
(supernet_golden.json). SupernetTests.testExtractedCandidateGivesTimmsLogits checks the engine's logits of the
same file against them.

Needs torch, timm and safetensors from PyPI and a release build (swift build -c release).
Run: python3 scripts/make_supernet_golden.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_engine_golden import build, logits_of  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "Tests", "SupernetTests", "Fixtures")
EFSEARCH = os.path.join(ROOT, ".build", "release", "efsearch")
# Stage 2 at kernel 3 (the supernet's largest is 5) and expansion 3, stage 3 fused, at width 0.5.
ARCH = "ds_r1_k3_s1_c16;ir_r2_k3_s2_e3_c24_se0.25;er_r2_k3_s2_e6_c40"
DATA = ["--dataset", "synthetic:300", "--threads", "1"]


def main():
    space = os.path.join(OUT, "small.yaml")
    with tempfile.TemporaryDirectory() as scratch:
        supernet = os.path.join(scratch, "small.supernet")
        subprocess.run([EFSEARCH, "supernet", "train", "--space", space, "--epochs", "1", "--batch", "32", "--seed", "3",
                        "--out", supernet] + DATA, check=True, stdout=subprocess.DEVNULL)
        path = os.path.join(scratch, "candidate.safetensors")
        extracted = subprocess.run([EFSEARCH, "supernet", "extract", "--supernet", supernet, "--arch", ARCH, "--width", "0.5",
                                    "--out", path, "--json"] + DATA, check=True, capture_output=True, text=True)
        with safe_open(path, "pt") as handle:
            meta = handle.metadata()
        model = build(meta)
        model.load_state_dict(load_file(path), strict=True)
        resolution = int(meta["resolution"])
        logits = logits_of(model, 2, resolution)
        shutil.copy(path, os.path.join(OUT, "candidate.safetensors"))
    extraction = {key: value for key, value in json.loads(extracted.stdout).items() if key not in ("file", "seconds")}
    fixture = dict(generator="scripts/make_supernet_golden.py", arch=ARCH, width=0.5, batch=2, resolution=resolution,
                   extraction=extraction, logits=logits.reshape(-1).tolist())
    with open(os.path.join(OUT, "supernet_golden.json"), "w") as handle:
        json.dump(fixture, handle, indent=1)
        handle.write("\n")
    print(f"candidate {ARCH} at width 0.5: logits {logits.shape}, max |logit| {np.abs(logits).max():.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
