#!/usr/bin/env python3
"""Times the reference implementations on this machine, for the ratios in efsearch's benchmark notes:
ONNX Runtime and PyTorch eager on EfficientNet-B0 (224 px, batch 1, inference) and PyTorch's SGD training
step on B0 width 0.5 depth 0.5 at 32 px, batch 64. Needs torch, timm, onnx and onnxruntime from PyPI.

    python3 scripts/bench_reference.py [--threads 2]
Compare with: efsearch bench efficientnet-b0 --runs 50
              efsearch bench efficientnet-b0 --width 0.5 --depth 0.5 --resolution 32 --batch 64 --classes 10 --mode training
"""
import argparse
import os
import statistics
import tempfile
import time

import torch
from timm.models import efficientnet as tefn


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = tefn._gen_efficientnet("efficientnet_b0", pretrained=False).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        eager = timed(lambda: model(x), 5, args.runs)
    print(f"PyTorch eager  B0 224 px batch 1 inference: {eager:.2f} ms")

    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "b0.onnx")
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"], opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"input": x.numpy()}
        onnx_ms = timed(lambda: session.run(None, feed), 10, args.runs)
    print(f"ONNX Runtime   B0 224 px batch 1 inference: {onnx_ms:.2f} ms")

    small = tefn._gen_efficientnet("efficientnet_b0", channel_multiplier=0.5, depth_multiplier=0.5, num_classes=10, pretrained=False).train()
    optimizer = torch.optim.SGD(small.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(64, 3, 32, 32)
    labels = torch.randint(0, 10, (64,))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        optimizer.zero_grad()
        loss_fn(small(images), labels).backward()
        optimizer.step()

    train_ms = timed(step, 3, max(10, args.runs // 3))
    print(f"PyTorch eager  B0 w0.5 d0.5 32 px batch 64 SGD step: {train_ms:.2f} ms = {64000 / train_ms:.0f} images/s")


if __name__ == "__main__":
    main()
