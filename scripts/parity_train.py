#!/usr/bin/env python3
"""Trains the same network, from the same initial weights, on the same data in the same batch order, with
efsearch and with PyTorch + timm, and prints both training curves and final accuracies.

    swift build -c release && python3 scripts/parity_train.py [--epochs 4] [--optimizer sgd|adamw|rmsprop|all]

Set-up shared by both: a checkpoint from `efsearch init` (loaded into timm with strict=True); synthetic images
exported by this script's helper as CIFAR-10 binary files (`efsearch` reads them with cifar10:DIR); no
validation split; batch 64; weight decay on conv and linear weights only; cosine schedule without warm-up;
label smoothing 0.1; batch norm momentum 0.1, eps 1e-5; inputs normalised with per-channel statistics of the
training images. Optimizers: SGD with Nesterov momentum 0.9; AdamW (betas 0.9, 0.999, eps 1e-8); RMSProp in
TensorFlow's form (timm's RMSpropTF: decay 0.9, momentum 0.9, eps 1e-3, mean square starting at 1).

Two scenarios per optimizer:
- plain: file order, no augmentation, dropout and drop-path off, at the images' 32 px;
- augmented: the default training recipe at 40 px, so resizing is exercised too: shuffled batches, random
  crops (torchvision's RandomCrop(40, padding=5) of the bilinearly resized image) and flips, dropout 0.2 and
  drop-path 0.2. efsearch records every step's batch order, crop offsets, flips and dropout / drop-path scales
  (`train --record-randomness`), and the PyTorch side replays them: its images, masks and order are efsearch's.
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


class ReplayedDropPath(nn.Module):
    """Stands in for a timm block's DropPath: multiplies each image by the scale efsearch drew for it."""

    def __init__(self):
        super().__init__()
        self.scales = None

    def forward(self, x):
        if not self.training or self.scales is None:
            return x
        return x * self.scales.view(-1, *([1] * (x.dim() - 1)))


def make_optimizer(name, model, lr):
    decay = [p for _, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for _, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": 5e-5}, {"params": no_decay, "weight_decay": 0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    from timm.optim import RMSpropTF
    return RMSpropTF(groups, lr=lr, alpha=0.9, momentum=0.9, eps=1e-3)


LEARNING_RATES = {"sgd": 0.05, "adamw": 0.002, "rmsprop": 0.002}


def compare(scratch, init, optimizer_name, augmented, epochs):
    resolution = 40 if augmented else 32
    lr = LEARNING_RATES[optimizer_name]
    record = os.path.join(scratch, f"randomness-{optimizer_name}.jsonl")
    common = ["--dataset", f"cifar10:{scratch}", "--validation-fraction", "0", "--batch", "64", "--epochs", str(epochs),
              "--optimizer", optimizer_name, "--lr", str(lr), "--momentum", "0.9", "--weight-decay", "5e-5",
              "--schedule", "cosine", "--label-smoothing", "0.1", "--threads", "2", "--json", "--seed", "5"]
    if augmented:
        common += ["--resolution", str(resolution), "--dropout", "0.2", "--drop-path", "0.2", "--record-randomness", record]
    else:
        common += ["--no-augment", "--no-shuffle", "--dropout", "0"]
    # efsearch trains from the same initial weights: it starts from --resume of the init checkpoint.
    result = subprocess.run([EFSEARCH, "train", "--arch", ARCH, "--stem", "16", "--head", "256", "--resume", init] + common,
                            check=True, capture_output=True, text=True)
    ours = json.loads(result.stdout)
    steps = [json.loads(line) for line in open(record)] if augmented else None

    parts = [read_cifar(os.path.join(scratch, f"data_batch_{index}.bin")) for index in range(1, 6)]
    labels = np.concatenate([p[0] for p in parts])
    pixels = np.concatenate([p[1] for p in parts])
    test_labels, test_pixels = read_cifar(os.path.join(scratch, "test_batch.bin"))
    values = pixels.astype(np.float64) / 255
    mean = torch.tensor(values.mean(axis=(0, 2, 3)), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(values.std(axis=(0, 2, 3)), dtype=torch.float32).view(1, 3, 1, 1)
    raw = torch.from_numpy(pixels.astype(np.float32) / 255)
    raw_test = torch.from_numpy(test_pixels.astype(np.float32) / 255)
    y, yt = torch.from_numpy(labels), torch.from_numpy(test_labels)

    def prepare(images, shifts=None):
        if images.shape[-1] != resolution:
            images = torch.nn.functional.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
        if shifts is not None:
            pad = round(resolution * 0.125)
            padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))  # zeros in [0, 1] pixel units: black
            crops = []
            for image, (dy, dx, flip) in zip(padded, shifts):
                crop = image[:, pad + dy:pad + dy + resolution, pad + dx:pad + dx + resolution]
                crops.append(crop.flip(-1) if flip else crop)
            images = torch.stack(crops)
        return (images - mean) / std

    from safetensors import safe_open
    with safe_open(init, "pt") as handle:
        meta = handle.metadata()
    model = build(meta)
    model.load_state_dict(load_file(init), strict=True)
    replayed = []
    for stage in model.blocks:
        for block in stage:
            if getattr(block, "has_skip", False):
                block.drop_path = ReplayedDropPath()
                replayed.append(block.drop_path)
    optimizer = make_optimizer(optimizer_name, model, lr)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    batch = 64
    steps_per_epoch = len(y) // batch
    total = steps_per_epoch * epochs
    step = 0
    theirs = []
    for epoch in range(epochs):
        model.train()
        losses = []
        for index in range(steps_per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
            optimizer.zero_grad()
            if steps is None:
                chosen = torch.arange(index * batch, (index + 1) * batch)
                x = prepare(raw[chosen])
                logits = model.classifier(model.global_pool(model.forward_features(x)))
            else:
                drawn = steps[step]
                assert drawn["step"] == step and drawn["epoch"] == epoch, (drawn["epoch"], drawn["step"], epoch, step)
                chosen = torch.tensor(drawn["indices"])
                x = prepare(raw[chosen], drawn["shifts"])
                if len(drawn["drop_path"]) != len(replayed):
                    raise SystemExit(f"efsearch drew drop-path scales for {len(drawn['drop_path'])} residual blocks; timm has {len(replayed)}")
                for module, scales in zip(replayed, drawn["drop_path"]):
                    module.scales = torch.tensor(scales)
                pooled = model.global_pool(model.forward_features(x))
                mask = torch.tensor(drawn["dropout"]).view(pooled.shape) if drawn["dropout"] else 1
                logits = model.classifier(pooled * mask)
            loss = loss_fn(logits, y[chosen])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
        theirs.append(float(np.mean(losses)))
    model.eval()
    with torch.no_grad():
        accuracy = (model(prepare(raw_test)).argmax(1) == yt).float().mean().item()
    return [h["train_loss"] for h in ours["history"]], theirs, ours["test_accuracy"], accuracy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--count", type=int, default=3200)
    parser.add_argument("--optimizer", choices=["sgd", "adamw", "rmsprop", "all"], default="all")
    parser.add_argument("--scenario", choices=["plain", "augmented", "both"], default="both")
    args = parser.parse_args()
    torch.set_num_threads(2)
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        make_dataset(scratch, args.count, 7)
        init = os.path.join(scratch, "init.safetensors")
        subprocess.run([EFSEARCH, "init", "--arch", ARCH, "--stem", "16", "--head", "256", "--classes", "10",
                        "--resolution", "32", "--seed", "1", "--out", init], check=True, stdout=subprocess.DEVNULL)
        optimizers = ["sgd", "adamw", "rmsprop"] if args.optimizer == "all" else [args.optimizer]
        scenarios = ["plain", "augmented"] if args.scenario == "both" else [args.scenario]
        for scenario in scenarios:
            for name in optimizers:
                ours, theirs, our_accuracy, their_accuracy = compare(scratch, init, name, scenario == "augmented", args.epochs)
                print(f"\n{scenario}, {name}:")
                print("epoch  efsearch train loss  PyTorch train loss  difference")
                for epoch, (a, b) in enumerate(zip(ours, theirs)):
                    worst = max(worst, abs(a - b) / b)
                    print(f"{epoch + 1:5d}  {a:19.4f}  {b:18.4f}  {100 * (a - b) / b:+9.2f}%")
                print(f"test accuracy: efsearch {100 * our_accuracy:.2f}%, PyTorch {100 * their_accuracy:.2f}%")
    print(f"\nlargest train-loss difference: {100 * worst:.2f}%")


if __name__ == "__main__":
    main()
