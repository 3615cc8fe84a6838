#!/usr/bin/env python3
"""Times efsearch's inference engine and ONNX Runtime on the same networks in alternating rounds.

This host's speed drifts by 10-40% within minutes, so two medians taken minutes apart compare the host with itself
as much as the two runtimes. Here each round times one `efsearch bench` (R runs after W warm-up runs) and R runs of
ONNX Runtime on the same timm network right after each other, in alternating order; the ratio of each round's two
medians is one sample, and the figure is the median of those ratios over the rounds (with the lowest and highest),
next to each side's median over all rounds. Cases (2 threads unless --threads): EfficientNet-B0 224 px at batch 1
and 32, EfficientNetV2-S 384 px and MobileNetV2-100 224 px at batch 1; the issue's criteria are B0 batch 1 <= 1.0x
ONNX Runtime's latency, B0 batch 32 images/s >= ONNX Runtime's, and the other two <= 1.2x.

    python3 scripts/bench_pairs.py [--efsearch .build/release/efsearch] [--threads 2] [--rounds 8] [--runs 10]
                                   [--cases b0,b0-b32,v2s,mnv2] [--json]

Needs torch, timm, onnx and onnxruntime from PyPI (as scripts/bench_reference.py).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import timm

from bench_reference import onnx_session

# name: (timm model, efsearch preset, resolution, batch)
CASES = {
    "b0": ("efficientnet_b0", "efficientnet-b0", 224, 1),
    "b0-b32": ("efficientnet_b0", "efficientnet-b0", 224, 32),
    "v2s": ("efficientnetv2_s", "efficientnetv2-s", 384, 1),
    "mnv2": ("mobilenetv2_100", "mobilenetv2-100", 224, 1),
}


def ort_median_ms(session, feed, warmup, runs):
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def efsearch_median_ms(binary, preset, resolution, batch, threads, warmup, runs):
    command = [binary, "bench", preset, "--resolution", str(resolution), "--batch", str(batch), "--threads", str(threads),
               "--warmup", str(warmup), "--runs", str(runs), "--rounds", "1", "--json"]  # one series, as the other side times
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)["median_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--efsearch", default=".build/release/efsearch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per side and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per side and round")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    cases = args.cases.split(",")
    for case in cases:
        if case not in CASES:
            sys.exit(f"--cases: unknown case {case!r}; expected some of {', '.join(CASES)}")
    if args.rounds < 1 or args.runs < 1 or args.threads < 1:
        sys.exit("--rounds, --runs and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    figures = {"threads": args.threads, "rounds": args.rounds, "runs_per_round": args.runs}
    with tempfile.TemporaryDirectory() as scratch, torch.no_grad():
        for case in cases:
            model_name, preset, resolution, batch = CASES[case]
            model = timm.create_model(model_name, pretrained=False).eval()
            session = onnx_session(model, resolution, args.threads, scratch, name=case)
            feed = {"input": torch.randn(batch, 3, resolution, resolution).numpy()}
            ort_median_ms(session, feed, 10, 1)
            ours, theirs, ratios = [], [], []
            for round_ in range(args.rounds):
                # Alternate which side goes first, so that a steady drift favours neither.
                if round_ % 2 == 0:
                    a = efsearch_median_ms(args.efsearch, preset, resolution, batch, args.threads, args.warmup, args.runs)
                    b = ort_median_ms(session, feed, args.warmup, args.runs)
                else:
                    b = ort_median_ms(session, feed, args.warmup, args.runs)
                    a = efsearch_median_ms(args.efsearch, preset, resolution, batch, args.threads, args.warmup, args.runs)
                ours.append(a)
                theirs.append(b)
                ratios.append(a / b)
                if not args.json:
                    print(f"  {case} round {round_ + 1}: efsearch {a:.2f} ms, ONNX Runtime {b:.2f} ms, ratio {a / b:.3f}", flush=True)
            figures[case] = {
                "resolution": resolution, "batch": batch,
                "efsearch_ms": statistics.median(ours), "onnxruntime_ms": statistics.median(theirs),
                "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                "efsearch_images_per_second": 1000 * batch / statistics.median(ours),
                "onnxruntime_images_per_second": 1000 * batch / statistics.median(theirs),
            }
            if not args.json:
                f = figures[case]
                print(f"{case} ({resolution} px, batch {batch}): efsearch {f['efsearch_ms']:.2f} ms, ONNX Runtime {f['onnxruntime_ms']:.2f} ms; "
                      f"latency ratio median {f['ratio_median']:.3f} (rounds {f['ratio_min']:.3f}-{f['ratio_max']:.3f})", flush=True)
    if args.json:
        print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
