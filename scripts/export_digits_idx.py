#!/usr/bin/env python3
"""Writes scikit-learn's bundled handwritten digits (1,797 images, 8x8, 16 grey levels; no download) as
MNIST-format IDX files, gzip-compressed, for `efsearch train --dataset mnist:DIR`:
train-images-idx3-ubyte.gz and friends (the last 20% of the images, in order, become t10k-*).

    pip install scikit-learn && python3 scripts/export_digits_idx.py data/digits
"""
import gzip
import os
import struct
import sys

import numpy as np
from sklearn.datasets import load_digits


def write(path, magic, array):
    with gzip.open(path, "wb") as handle:
        handle.write(struct.pack(">I", magic))
        for size in array.shape:
            handle.write(struct.pack(">I", size))
        handle.write(array.astype(np.uint8).tobytes())


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "data/digits"
    os.makedirs(directory, exist_ok=True)
    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255)  # 0..16 -> 0..255
    labels = digits.target
    split = int(len(labels) * 0.8)
    write(os.path.join(directory, "train-images-idx3-ubyte.gz"), 0x803, images[:split])
    write(os.path.join(directory, "train-labels-idx1-ubyte.gz"), 0x801, labels[:split])
    write(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), 0x803, images[split:])
    write(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), 0x801, labels[split:])
    print(f"wrote {split} training and {len(labels) - split} test digits to {directory}")


if __name__ == "__main__":
    main()
