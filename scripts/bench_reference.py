#!/usr/bin/env python3
"""Times the reference implementations on this machine, for the ratios in efsearch's performance table.

Inference (ONNX Runtime, CPU provider, and PyTorch eager): EfficientNet-B0 at 224 px, batch 1 and 32;
EfficientNetV2-S at 384 px and MobileNetV2-100 at 224 px, batch 1. Training (one SGD step, B0 width 0.5
depth 0.5 at 32 px, batch 64): PyTorch eager in NCHW, eager with channels_last, and torch.compile with
channels_last (timed after its compile warm-up). Needs torch, timm, onnx and onnxruntime from PyPI.

    python3 scripts/bench_reference.py [--threads 2] [--runs 40] [--json]

Run next to (same session, same threads):
    efsearch bench efficientnet-b0 --runs 40 --warmup 10 --rounds 1 --threads 2
    efsearch bench efficientnet-b0 --batch 32 --runs 30 --rounds 1 --threads 2
    efsearch bench efficientnetv2-s --resolution 384 --runs 30 --rounds 1 --threads 2
    efsearch bench mobilenetv2-100 --runs 40 --rounds 1 --threads 2
    efsearch bench efficientnet-b0 --width 0.5 --depth 0.5 --resolution 32 --batch 64 --classes 10 --mode training --rounds 1 --threads 2
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import torch
import timm


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def onnx_session(model, resolution, threads, scratch, name="model"):
    """An ONNX Runtime session (CPU provider, `threads` intra-op threads) of a timm model exported with a dynamic
    batch axis."""
    import onnxruntime as ort

    path = os.path.join(scratch, name + ".onnx")
    x = torch.randn(1, 3, resolution, resolution)
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamo=False, dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_runtime_ms(model, resolution, batches, threads, runs, scratch):
    """ONNX Runtime's median latency per batch size for a timm model exported with a dynamic batch axis."""
    session = onnx_session(model, resolution, threads, scratch)
    result = {}
    for batch in batches:
        feed = {"input": torch.randn(batch, 3, resolution, resolution).numpy()}
        result[batch] = timed(lambda: session.run(None, feed), 10, runs if batch == 1 else max(10, runs // 2))
    return result


def training_images_per_second(threads, runs, layout, compiled):
    torch.manual_seed(0)
    model = _small_b0()
    model = model.train().to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(64, 3, 32, 32).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (64,))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    forward = torch.compile(model) if compiled else model

    def step():
        optimizer.zero_grad()
        loss_fn(forward(images), labels).backward()
        optimizer.step()

    ms = timed(step, 5 if compiled else 3, max(10, runs // 2))
    return 64000 / ms


def _small_b0():
    from timm.models import efficientnet as tefn
    return tefn._gen_efficientnet("efficientnet_b0", channel_multiplier=0.5, depth_multiplier=0.5, num_classes=10, pretrained=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures = {"threads": args.threads, "torch": torch.__version__}
    import onnxruntime
    figures["onnxruntime"] = onnxruntime.__version__

    with tempfile.TemporaryDirectory() as scratch, torch.no_grad():
        b0 = timm.create_model("efficientnet_b0", pretrained=False).eval()
        ort_b0 = onnx_runtime_ms(b0, 224, [1, 32], args.threads, args.runs, scratch)
        figures["ort_b0_224_batch1_ms"] = ort_b0[1]
        figures["ort_b0_224_batch32_images_per_second"] = 32000 / ort_b0[32]
        x = torch.randn(1, 3, 224, 224)
        figures["torch_eager_b0_224_batch1_ms"] = timed(lambda: b0(x), 5, args.runs)
        v2s = timm.create_model("efficientnetv2_s", pretrained=False).eval()
        figures["ort_v2s_384_batch1_ms"] = onnx_runtime_ms(v2s, 384, [1], args.threads, max(10, args.runs // 2), scratch)[1]
        mobilenet = timm.create_model("mobilenetv2_100", pretrained=False).eval()
        figures["ort_mobilenetv2_224_batch1_ms"] = onnx_runtime_ms(mobilenet, 224, [1], args.threads, args.runs, scratch)[1]

    figures["torch_train_nchw_images_per_second"] = training_images_per_second(args.threads, args.runs, torch.contiguous_format, False)
    figures["torch_train_channels_last_images_per_second"] = training_images_per_second(args.threads, args.runs, torch.channels_last, False)
    try:
        figures["torch_train_compiled_channels_last_images_per_second"] = training_images_per_second(args.threads, args.runs, torch.channels_last, True)
    except Exception as error:  # torch.compile needs a C++ compiler; say so instead of failing the other figures
        figures["torch_compile_error"] = str(error).splitlines()[0][:200]

    if args.json:
        print(json.dumps(figures, indent=1))
        return
    for key, value in figures.items():
        print(f"{key:55s} {value:.2f}" if isinstance(value, float) else f"{key:55s} {value}")


if __name__ == "__main__":
    main()
