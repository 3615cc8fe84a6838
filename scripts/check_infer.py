#!/usr/bin/env python3
"""Checks that `efsearch infer --image` prepares images exactly as the documented Python preprocessing does.

It writes a small image folder with Pillow (three classes of coloured shapes, JPEG and PNG, various sizes and
aspect ratios), trains a tiny network on it with `efsearch train --dataset folder:DIR` (which records the
evaluation preprocessing in the checkpoint), then prepares test images (portrait and landscape, grey, with
alpha, EXIF-rotated) with Pillow and numpy only:

    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    size = round(resolution / 0.875)                        # shorter side, as timm's crop_pct 0.875
    w, h = image.size
    image = image.resize((size, int(size * h / w)) if w <= h else (int(size * w / h), size), Image.BILINEAR)
    top, left = round((image.height - resolution) / 2), round((image.width - resolution) / 2)
    x = np.asarray(image, np.float32)[top:top + resolution, left:left + resolution] / 255
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]   # ImageNet's mean and std
    x = x.transpose(2, 0, 1)                                # NCHW

and requires `infer --image` and `infer --input` (on that tensor) to give the same top-1 class and logits within
1% of the largest logit. Needs numpy, Pillow and a built efsearch. Exit code 0 when every image passes.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def write_safetensors(path, name, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    header = {name: {"dtype": "F32", "shape": list(array.shape), "data_offsets": [0, array.nbytes]}}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text + array.tobytes())


def shape_image(rng, label, width, height):
    """Class 0: a disc, 1: a square, 2: horizontal stripes; random colours and places."""
    background = tuple(int(v) for v in rng.integers(0, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 256, 3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    side = min(width, height)
    r = int(side * rng.uniform(0.2, 0.35))
    cx, cy = int(width / 2 + rng.uniform(-0.1, 0.1) * side), int(height / 2 + rng.uniform(-0.1, 0.1) * side)
    if label == 0:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
    elif label == 1:
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=ink)
    else:
        for y in range(0, height, max(2, side // 8)):
            draw.rectangle([0, y, width, y + max(1, side // 16)], fill=ink)
    return image


def make_folder(directory, rng):
    names = ["disc", "square", "stripes"]
    for split, count in (("train", 40), ("val", 8)):
        for label, name in enumerate(names):
            os.makedirs(os.path.join(directory, split, name), exist_ok=True)
            for index in range(count):
                width, height = int(rng.integers(40, 90)), int(rng.integers(40, 90))
                image = shape_image(rng, label, width, height)
                if index % 2:
                    image.save(os.path.join(directory, split, name, f"{index:03d}.jpg"), quality=95)
                else:
                    image.save(os.path.join(directory, split, name, f"{index:03d}.png"))


def test_images(directory, rng):
    paths = []
    cases = [("portrait.jpg", 0, 50, 83, {}), ("landscape.png", 1, 97, 61, {}), ("grey.png", 2, 70, 70, {"mode": "L"}),
             ("alpha.png", 0, 64, 80, {"mode": "RGBA"}), ("rotated.jpg", 2, 90, 55, {"orientation": 6}),
             ("small.jpg", 1, 30, 36, {})]
    for name, label, width, height, options in cases:
        image = shape_image(rng, label, width, height)
        path = os.path.join(directory, name)
        if options.get("mode") == "L":
            image.convert("L").save(path)
        elif options.get("mode") == "RGBA":
            rgba = image.convert("RGBA")
            rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
            rgba.save(path)
        elif "orientation" in options:
            exif = Image.Exif()
            exif[0x0112] = options["orientation"]
            image.save(path, quality=95, exif=exif.tobytes())
        else:
            image.save(path, quality=95) if name.endswith(".jpg") else image.save(path)
        paths.append(path)
    return paths


def prepare(path, resolution):
    """The documented evaluation preprocessing, with Pillow and numpy only."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    size = round(resolution / 0.875)
    width, height = image.size
    new = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    image = image.resize(new, Image.BILINEAR)
    top, left = round((image.height - resolution) / 2), round((image.width - resolution) / 2)
    x = np.asarray(image, dtype=np.float32)[top:top + resolution, left:left + resolution] / 255
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "efsearch"))
    parser.add_argument("--resolution", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    failures = 0
    differences_of_a_wrong_recipe = []
    with tempfile.TemporaryDirectory() as directory:
        folder = os.path.join(directory, "shapes")
        make_folder(folder, rng)
        checkpoint = os.path.join(directory, "shapes.safetensors")
        env = dict(os.environ, EFSEARCH_CACHE_DIR=os.path.join(directory, "cache"))
        subprocess.run([args.binary, "train", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e4_c16_se0.25;ir_r1_k5_s2_e4_c24_se0.25",
                        "--resolution", str(args.resolution), "--dataset", f"folder:{folder}", "--epochs", "12", "--batch", "16", "--crop-scale", "0.35,1",
                        "--optimizer", "adamw", "--lr", "0.003", "--seed", "3", "--out", checkpoint, "--json"],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        paths = test_images(directory, rng)
        tensor = os.path.join(directory, "input.safetensors")
        write_safetensors(tensor, "input", np.stack([prepare(path, args.resolution) for path in paths]))
        by_image = json.loads(subprocess.run([args.binary, "infer", "--checkpoint", checkpoint, "--image", *paths, "--json"],
                                             check=True, env=env, capture_output=True, text=True).stdout)["results"]
        by_tensor = json.loads(subprocess.run([args.binary, "infer", "--checkpoint", checkpoint, "--input", tensor, "--json"],
                                              check=True, env=env, capture_output=True, text=True).stdout)["results"]
        for path, a, b in zip(paths, by_image, by_tensor):
            logits_a, logits_b = np.array(a["logits"]), np.array(b["logits"])
            relative = np.abs(logits_a - logits_b).max() / max(1e-6, np.abs(logits_b).max())
            same = a["top"][0]["label"] == b["top"][0]["label"]
            ok = same and relative <= 0.01
            failures += 0 if ok else 1
            print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(path):14s} top-1 {a['top'][0]['class']:8s} vs {b['top'][0]['class']:8s} "
                  f"largest logit difference {100 * relative:.3f}% of the largest logit")
        # A control that the comparison can fail: the whole image squashed to the resolution (no centre crop).
        squashed = [((np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB").resize((args.resolution,) * 2, Image.BILINEAR),
                                 dtype=np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1) for p in paths]
        write_safetensors(tensor, "input", np.stack(squashed))
        wrong = json.loads(subprocess.run([args.binary, "infer", "--checkpoint", checkpoint, "--input", tensor, "--json"],
                                          check=True, env=env, capture_output=True, text=True).stdout)["results"]
        for a, b in zip(by_image, wrong):
            logits_a, logits_b = np.array(a["logits"]), np.array(b["logits"])
            differences_of_a_wrong_recipe.append(np.abs(logits_a - logits_b).max() / max(1e-6, np.abs(logits_b).max()))
        classes = {a["top"][0]["class"] for a in by_image}
    control = max(differences_of_a_wrong_recipe)
    print(f"control: squashing instead of cropping moves the logits by up to {100 * control:.1f}%; "
          f"top-1 classes seen: {', '.join(sorted(classes))}")
    if control <= 0.01:
        print("FAIL the control: a wrong preprocessing would pass this check")
        failures += 1
    print(f"{len(paths) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
