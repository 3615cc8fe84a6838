#!/usr/bin/env python3
"""Trains the same network, from the same initial weights, on the same data in the same batch order, with
efsearch and with PyTorch + timm, and prints both training curves and final accuracies.

    swift build -c release && python3 scripts/parity_train.py [--epochs 4]

Set-up shared by both: a checkpoint from `efsearch init` (loaded into timm with strict=True); the built-in
synthetic dataset exported by this script's helper as CIFAR-10 binary files (`efsearch` reads them with
cifar10:DIR); no validation split, no augmentation, file order (no shuffling); batch 64; SGD with
Nesterov momentum 0.9 and weight decay on conv and linear weights only; cosine schedule without warm-up;
label smoothing 0.1; dropout and drop-path off; batch norm momentum 0.1, eps 1e-5. Inputs are normalised
with per-channel statistics of the training images.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_engine_golden import build  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EFSEARCH = os.path.join(ROOT, ".build", "release", "efsearch")
ARCH = "ds_r1_k3_s1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;ir_r2_k5_s1_e6_c40_se0.25;ir_r2_k3_s2_e6_c64_se0.25"


def make_dataset(directory, count, seed):
    """Blobs-and-stripes images in CIFAR-10's binary format (label byte + 3 x 1024 planes)."""
    rng = np.random.default_rng(seed)
    def images(n):
        labels = np.arange(n) % 10
        out = np.zeros((n, 3, 32, 32), dtype=np.float64)
        yy, xx = np.mgrid[0:32, 0:32]
        for i, label in enumerate(labels):
            background = rng.uniform(0, 255, 3)
            out[i] = background[:, None, None]
            cx, cy, r = rng.uniform(9, 23), rng.uniform(9, 23), rng.uniform(5, 9)
            ink = rng.uniform(0, 255, 3)
            if label < 5:
                mask = np.hypot(xx - cx, yy - cy) < r * (0.6 + 0.1 * label)
            else:
                period = 2 + (label - 5)
                mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r) & (((xx + yy * (label % 2)) // period) % 2 == 0)
            out[i][:, mask] = ink[:, None]
            out[i] += rng.normal(0, 10, (3, 32, 32))
        return labels, np.clip(out.round(), 0, 255).astype(np.uint8)
    labels, pixels = images(count)
    share = count // 5
    for index in range(5):  # CIFAR-10's five training files, in order
        with open(os.path.join(directory, f"data_batch_{index + 1}.bin"), "wb") as handle:
            for label, image in zip(labels[index * share:(index + 1) * share], pixels[index * share:(index + 1) * share]):
                handle.write(bytes([label]) + image.tobytes())
    labels, pixels = images(count // 4)
    with open(os.path.join(directory, "test_batch.bin"), "wb") as handle:
        for label, image in zip(labels, pixels):
            handle.write(bytes([label]) + image.tobytes())


def read_cifar(path):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 0].astype(np.int64), raw[:, 1:].reshape(-1, 3, 32, 32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--count", type=int, default=3200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as scratch:
        make_dataset(scratch, args.count, 7)
        init = os.path.join(scratch, "init.safetensors")
        subprocess.run([EFSEARCH, "init", "--arch", ARCH, "--stem", "16", "--head", "256", "--classes", "10",
                        "--resolution", "32", "--seed", "1", "--out", init], check=True, stdout=subprocess.DEVNULL)
        common = ["--dataset", f"cifar10:{scratch}", "--validation-fraction", "0", "--no-augment", "--no-shuffle",
                  "--batch", "64", "--epochs", str(args.epochs), "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
                  "--weight-decay", "5e-5", "--schedule", "cosine", "--label-smoothing", "0.1", "--dropout", "0",
                  "--threads", "2", "--json"]
        # efsearch trains from the same initial weights: it starts from --resume of the init checkpoint.
        result = subprocess.run([EFSEARCH, "train", "--arch", ARCH, "--stem", "16", "--head", "256", "--resume", init] + common,
                                check=True, capture_output=True, text=True)
        ours = json.loads(result.stdout)

        parts = [read_cifar(os.path.join(scratch, f"data_batch_{index}.bin")) for index in range(1, 6)]
        labels = np.concatenate([p[0] for p in parts])
        pixels = np.concatenate([p[1] for p in parts])
        test_labels, test_pixels = read_cifar(os.path.join(scratch, "test_batch.bin"))
        values = pixels.astype(np.float64) / 255
        mean, std = values.mean(axis=(0, 2, 3)), values.std(axis=(0, 2, 3))
        def tensor(p):
            return torch.from_numpy(((p.astype(np.float64) / 255 - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32))
        x, xt = tensor(pixels), tensor(test_pixels)
        y, yt = torch.from_numpy(labels), torch.from_numpy(test_labels)

        from safetensors import safe_open
        with safe_open(init, "pt") as handle:
            meta = handle.metadata()
        model = build(meta)
        model.load_state_dict(load_file(init), strict=True)
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
        optimizer = torch.optim.SGD([{"params": decay, "weight_decay": 5e-5}, {"params": no_decay, "weight_decay": 0}],
                                    lr=0.05, momentum=0.9, nesterov=True)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
        batch = 64
        steps_per_epoch = len(y) // batch
        total = steps_per_epoch * args.epochs
        step = 0
        theirs = []
        for epoch in range(args.epochs):
            model.train()
            losses = []
            for index in range(steps_per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
                optimizer.zero_grad()
                loss = loss_fn(model(x[index * batch:(index + 1) * batch]), y[index * batch:(index + 1) * batch])
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                step += 1
            theirs.append(float(np.mean(losses)))
        model.eval()
        with torch.no_grad():
            accuracy = (model(xt).argmax(1) == yt).float().mean().item()

    print("epoch  efsearch train loss  PyTorch train loss  difference")
    for epoch, (a, b) in enumerate(zip([h["train_loss"] for h in ours["history"]], theirs)):
        print(f"{epoch + 1:5d}  {a:19.4f}  {b:18.4f}  {100 * (a - b) / b:+9.2f}%")
    print(f"test accuracy: efsearch {100 * ours['test_accuracy']:.2f}%, PyTorch {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
