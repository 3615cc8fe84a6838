#!/usr/bin/env python3
"""Writes the image-decoding fixtures of Tests/TrainingTests/Fixtures/images and, from Pillow (the reference
for what a Python pipeline sees), the RGB pixels efsearch must decode from each:

- grey.png (8-bit L), palette.png (P with a transparent entry), rgba.png, grey_alpha.png (LA): as Pillow's
  convert("RGB") gives them (alpha dropped);
- grey16.png (16-bit grey): the 16-bit values scaled to 8 bits, round(v / 257) (Pillow's convert clips them);
- rgb.jpg (quality 95), grey.jpg, cmyk.jpg (Adobe CMYK): Pillow's decode and convert("RGB");
- exif6.jpg, exif3.jpg, exif8.jpg: EXIF orientation 6, 3 and 8; ImageOps.exif_transpose then convert("RGB");
- resize.png (a 41 x 29 photo-like image) and the bytes of Pillow's resize of its shorter side to 37 (bilinear
  and bicubic) followed by the centred 32 x 32 crop, as torchvision's Resize(37) + CenterCrop(32) computes them;
- truncated.jpg, truncated.png, not_an_image.png: bad files.

    python3 scripts/make_image_fixtures.py
"""
import io
import json
import os

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TrainingTests", "Fixtures", "images")


def pattern(height, width, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) * 7 % 256], axis=-1)
    image = image + rng.integers(-20, 21, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def rgb_of(image):
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    def record(name, pixels):
        expected[name] = {"height": int(pixels.shape[0]), "width": int(pixels.shape[1]), "rgb": pixels.reshape(-1).tolist()}

    base = pattern(9, 13, 1)
    Image.fromarray(base[:, :, 0], "L").save(os.path.join(OUT, "grey.png"))
    record("grey.png", rgb_of(Image.open(os.path.join(OUT, "grey.png"))))

    palette = Image.fromarray(base, "RGB").quantize(colors=16)
    palette.info["transparency"] = 0
    palette.save(os.path.join(OUT, "palette.png"), transparency=0)
    record("palette.png", rgb_of(Image.open(os.path.join(OUT, "palette.png"))))

    alpha = np.concatenate([base, pattern(9, 13, 2)[:, :, :1]], axis=-1)
    Image.fromarray(alpha, "RGBA").save(os.path.join(OUT, "rgba.png"))
    record("rgba.png", rgb_of(Image.open(os.path.join(OUT, "rgba.png"))))

    Image.fromarray(alpha[:, :, [0, 3]], "LA").save(os.path.join(OUT, "grey_alpha.png"))
    record("grey_alpha.png", rgb_of(Image.open(os.path.join(OUT, "grey_alpha.png"))))

    sixteen = (base[:, :, 1].astype(np.uint16) * 257 + np.arange(13, dtype=np.uint16)[None, :] * 3).astype(np.uint16)
    Image.fromarray(sixteen).save(os.path.join(OUT, "grey16.png"))
    stored = np.asarray(Image.open(os.path.join(OUT, "grey16.png")), dtype=np.float64)
    eight = np.clip(np.round(stored / 257), 0, 255).astype(np.uint8)
    record("grey16.png", np.repeat(eight[:, :, None], 3, axis=-1))

    Image.fromarray(base, "RGB").save(os.path.join(OUT, "rgb.jpg"), quality=95)
    record("rgb.jpg", rgb_of(Image.open(os.path.join(OUT, "rgb.jpg"))))
    Image.fromarray(base[:, :, 2], "L").save(os.path.join(OUT, "grey.jpg"), quality=95)
    record("grey.jpg", rgb_of(Image.open(os.path.join(OUT, "grey.jpg"))))
    Image.fromarray(base, "RGB").convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
    record("cmyk.jpg", rgb_of(Image.open(os.path.join(OUT, "cmyk.jpg"))))

    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        name = f"exif{orientation}.jpg"
        Image.fromarray(base, "RGB").save(os.path.join(OUT, name), quality=95, exif=exif.tobytes())
        record(name, rgb_of(ImageOps.exif_transpose(Image.open(os.path.join(OUT, name)))))

    photo = pattern(29, 41, 3)
    Image.fromarray(photo, "RGB").save(os.path.join(OUT, "resize.png"))
    for method, name in ((Image.BILINEAR, "bilinear"), (Image.BICUBIC, "bicubic")):
        width, height = int(37 * 41 / 29), 37
        resized = np.asarray(Image.fromarray(photo, "RGB").resize((width, height), method), dtype=np.uint8)
        top, left = int(round((height - 32) / 2.0)), int(round((width - 32) / 2.0))
        record(f"resize.png:{name}", resized[top:top + 32, left:left + 32])

    buffer = io.BytesIO()
    Image.fromarray(pattern(40, 40, 4), "RGB").save(buffer, "JPEG", quality=90)
    open(os.path.join(OUT, "truncated.jpg"), "wb").write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    buffer = io.BytesIO()
    Image.fromarray(pattern(40, 40, 5), "RGB").save(buffer, "PNG")
    open(os.path.join(OUT, "truncated.png"), "wb").write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    open(os.path.join(OUT, "not_an_image.png"), "w").write("this is text, not a picture\n")

    with open(os.path.join(OUT, "expected.json"), "w") as handle:
        json.dump(expected, handle, separators=(",", ":"), sort_keys=True)
    print(f"wrote {len(expected)} expectations to {OUT}/expected.json")


if __name__ == "__main__":
    main()
