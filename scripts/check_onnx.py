#!/usr/bin/env python3
"""Checks `efsearch onnx` against `efsearch infer` with ONNX Runtime.

For every preset (at a small resolution) and for seeded random arch strings of all four block types, it writes a
checkpoint with `efsearch init`, gives its batch norms random statistics and affine parameters (so that folding
them into the convolutions is really exercised), exports it with `efsearch onnx`, checks the file with
`onnx.checker` (full check, with shape inference), runs a random batch through ONNX Runtime and through
`efsearch infer`, and requires max |difference| <= 1e-4 of the logit scale.

Needs `pip install onnx onnxruntime numpy` and a built efsearch (swift build -c release). Exit code 0 when every
case passes; the last line is `N passed, M failed`.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_safetensors(path):
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(length))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[array.dtype]
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def randomise_batch_norms(path, rng):
    """Random statistics and affine parameters for every batch norm, as training leaves them. They are drawn to
    shrink activations a little (variance 1-4, gamma 0.5-1): with the identity statistics of a fresh network,
    deep presets (EfficientNetV2-M/L) amplify their activations to 1e5 and more through the residual adds, and
    two correct float32 implementations then disagree by rounding alone."""
    tensors, metadata = read_safetensors(path)
    for name, array in tensors.items():
        if name.endswith("running_mean"):
            tensors[name] = rng.normal(0, 0.2, array.shape).astype(np.float32)
        elif name.endswith("running_var"):
            tensors[name] = rng.uniform(1.0, 4.0, array.shape).astype(np.float32)
        elif name.endswith(".weight") and name.split(".")[-2].startswith("bn"):
            tensors[name] = rng.uniform(0.5, 1.0, array.shape).astype(np.float32)
        elif name.endswith(".bias") and name.split(".")[-2].startswith("bn"):
            tensors[name] = rng.normal(0, 0.2, array.shape).astype(np.float32)
    write_safetensors(path, tensors, metadata)


def random_arch(rng):
    stages, strides, channels = [], 0, rng.choice([16, 24, 32])
    for index in range(rng.randint(2, 5)):
        kind = rng.choice(["ir", "ir", "er", "ds", "cn"])
        stride = 2 if strides < 3 and index > 0 and rng.random() < 0.6 else 1
        strides += stride == 2
        channels = min(160, int(channels * rng.choice([1.0, 1.5, 2.0])))
        out = channels + rng.choice([0, 0, 4])
        block = f"{kind}_r{rng.randint(1, 2)}_k{rng.choice([3, 5, 7])}_s{stride}"
        if kind in ("ir", "er"):
            block += f"_e{rng.choice([1, 2, 4, 6])}"
        block += f"_c{out}"
        if kind != "cn" and rng.random() < 0.5:
            block += "_se0.25"
        if kind == "cn" and rng.random() < 0.5:
            block += "_skip"
        if kind != "cn" and rng.random() < 0.2:
            block += "_noskip"
        if rng.random() < 0.2:
            block += rng.choice(["_nre", "_nr6"])
        stages.append(block)
    return ";".join(stages)


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def check(binary, name, network_flags, resolution, seed, batch, directory, opset):
    rng = np.random.default_rng(seed)
    checkpoint = os.path.join(directory, f"{seed}.safetensors")
    model_path = os.path.join(directory, f"{seed}.onnx")
    run([binary, "init", *network_flags, "--resolution", str(resolution), "--seed", str(seed), "--out", checkpoint])
    randomise_batch_norms(checkpoint, rng)
    export_batch = "dynamic" if seed % 2 == 0 else str(batch)
    run([binary, "onnx", "--checkpoint", checkpoint, "--out", model_path, "--opset", str(opset), "--batch", export_batch])
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    x = rng.normal(0, 1, (batch, 3, resolution, resolution)).astype(np.float32)
    input_path, output_path = os.path.join(directory, f"{seed}-in.safetensors"), os.path.join(directory, f"{seed}-out.safetensors")
    write_safetensors(input_path, {"input": x})
    run([binary, "infer", "--checkpoint", checkpoint, "--input", input_path, "--output", output_path])
    ours = read_safetensors(output_path)[0]["logits"]
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    theirs = session.run(["logits"], {"input": x})[0]
    scale = max(float(np.abs(theirs).max()), 1e-30)
    difference = float(np.abs(ours - theirs).max()) / scale
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    assert metadata.get("resolution") == str(resolution), metadata
    for path in (checkpoint, model_path, input_path, output_path):
        os.remove(path)
    return difference, len(model.graph.node)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "efsearch"))
    parser.add_argument("--random", type=int, default=20, help="random arch strings")
    parser.add_argument("--resolution", type=int, default=64, help="resolution of the presets")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--skip", default="", help="comma-separated presets to leave out (efficientnet-l2, 480M parameters, takes about 2 minutes)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    presets = [line.split()[0] for line in run([args.binary, "presets"]).stdout.splitlines() if line.strip()]
    skipped = set(filter(None, args.skip.split(",")))
    cases = [(preset, [preset, "--classes", "10"], args.resolution) for preset in presets if preset not in skipped]
    rng = random.Random(2026)
    for index in range(args.random):
        arch = random_arch(rng)
        flags = ["--arch", arch, "--stem", str(rng.choice([8, 16, 24])), "--head", str(rng.choice([0, 64, 128])),
                 "--classes", str(rng.choice([3, 10])), "--activation", rng.choice(["silu", "relu", "relu6"])]
        cases.append((f"random {index + 1}: {arch}", flags, rng.choice([32, 48, 64])))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as directory:
        for seed, (name, flags, resolution) in enumerate(cases):
            try:
                difference, nodes = check(args.binary, name, flags, resolution, seed, 2, directory, args.opset)
            except Exception as error:  # report and go on: every case is checked
                failed += 1
                print(f"FAIL {name}: {error}")
                continue
            ok = difference <= args.tolerance
            passed += ok
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} ({resolution} px, {nodes} nodes): max |diff| {difference:.2e} of the logit scale")
    if skipped:
        print(f"left out: {', '.join(sorted(skipped))}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
