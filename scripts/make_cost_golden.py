#!/usr/bin/env python3
"""Writes Tests/CostTests/Fixtures/timm_costs.json: parameter counts, MACs and block structure of timm's
EfficientNet for the presets and for seeded random arch strings, widths, depths, stems, heads and classes.

Run once (needs torch and timm from PyPI; fvcore optional); the Swift tests read the file and never need
PyTorch:  python3 scripts/make_cost_golden.py
MACs are counted with forward hooks on a meta-device forward pass: every Conv2d contributes
out_elements * in_channels / groups * kh * kw and every Linear in_features * out_features (no biases).
"""
import json
import os
import random
import sys
from functools import partial

import timm
import torch
import torch.nn as nn
from timm.models import efficientnet as tefn
from timm.models._efficientnet_blocks import (ConvBnAct, DepthwiseSeparableConv, EdgeResidual,
                                              InvertedResidual)
from timm.models._efficientnet_builder import decode_arch_def, round_channels

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "CostTests", "Fixtures", "timm_costs.json")
ACTS = {"silu": nn.SiLU, "relu": nn.ReLU, "relu6": nn.ReLU6}


def count(model, resolution, device="meta"):
    macs = 0

    def conv_hook(module, inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module, inputs, output):
        nonlocal macs
        macs += module.in_features * module.out_features * (output.numel() // module.out_features)

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution, device=device))
    for hook in hooks:
        hook.remove()
    params = sum(p.numel() for p in model.parameters())
    return params, macs


def fvcore_flops(model, resolution):
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None
    model.eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, resolution, resolution))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def block_structure(model):
    rows = []
    for stage_index, stage in enumerate(model.blocks):
        for block_index, block in enumerate(stage):
            se = getattr(block, "se", None)
            rd = se.conv_reduce.out_channels if se is not None and hasattr(se, "conv_reduce") else 0
            if isinstance(block, DepthwiseSeparableConv):
                kind, cin, mid, cout = "ds", block.conv_dw.in_channels, block.conv_dw.out_channels, block.conv_pw.out_channels
            elif isinstance(block, InvertedResidual):
                kind, cin, mid, cout = "ir", block.conv_pw.in_channels, block.conv_pw.out_channels, block.conv_pwl.out_channels
            elif isinstance(block, EdgeResidual):
                kind, cin, mid, cout = "er", block.conv_exp.in_channels, block.conv_exp.out_channels, block.conv_pwl.out_channels
            elif isinstance(block, ConvBnAct):
                kind, cin, mid, cout = "cn", block.conv.in_channels, block.conv.out_channels, block.conv.out_channels
            else:
                raise TypeError(type(block))
            rows.append([stage_index, block_index, kind, cin, mid, cout, rd, bool(block.has_skip)])
    return rows


def custom_model(arch, width, depth, stem, head, classes, activation):
    arch_def = [[s.strip() for s in stage.split(",")] for stage in arch.split(";")]
    round_chs_fn = partial(round_channels, multiplier=width, divisor=8)
    return tefn.EfficientNet(
        block_args=decode_arch_def(arch_def, depth),
        num_features=round_chs_fn(head) if head > 0 else 0,
        stem_size=stem, round_chs_fn=round_chs_fn, num_classes=classes, act_layer=ACTS[activation])


PRESETS = {
    # preset name: (timm generator, timm variant, stem, head)
    "efficientnet": (tefn._gen_efficientnet, "efficientnet_b0"),
    "efficientnetv2-s": (tefn._gen_efficientnetv2_s, "efficientnetv2_s"),
    "efficientnetv2-m": (tefn._gen_efficientnetv2_m, "efficientnetv2_m"),
    "efficientnetv2-l": (tefn._gen_efficientnetv2_l, "efficientnetv2_l"),
    "mobilenetv2-100": (tefn._gen_mobilenet_v2, "mobilenetv2_100"),
    "mnasnet-100": (tefn._gen_mnasnet_b1, "mnasnet_100"),
}
B_SERIES = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260), "b3": (1.2, 1.4, 300),
            "b4": (1.4, 1.8, 380), "b5": (1.6, 2.2, 456), "b6": (1.8, 2.6, 528), "b7": (2.0, 3.1, 600),
            "b8": (2.2, 3.6, 672), "l2": (4.3, 5.3, 800)}
RESOLUTIONS = {"efficientnetv2-s": 384, "efficientnetv2-m": 480, "efficientnetv2-l": 480,
               "mobilenetv2-100": 224, "mnasnet-100": 224}


def preset_model(preset, width, depth, classes=1000):
    if preset.startswith("efficientnet-"):
        gen, variant = PRESETS["efficientnet"]
    else:
        gen, variant = PRESETS[preset]
    kwargs = dict(channel_multiplier=width, pretrained=False, num_classes=classes)
    if gen is not tefn._gen_mnasnet_b1:
        kwargs["depth_multiplier"] = depth
    with torch.device("meta"):
        return gen(variant, **kwargs)


def random_arch(rng):
    stages = []
    for _ in range(rng.randint(1, 7)):
        blocks = []
        for block_index in range(rng.choice([1, 1, 1, 2, 3])):
            kind = rng.choice(["ds", "ir", "ir", "ir", "er", "cn"])
            # timm gives a stage's stride to its first block only, and efsearch rejects s2 elsewhere.
            stride = rng.choice([1, 1, 2]) if block_index == 0 else 1
            parts = [kind, f"r{rng.randint(1, 4)}", f"k{rng.choice([1, 3, 3, 5, 7])}", f"s{stride}"]
            if kind in ("ir", "er"):
                parts.append("e" + rng.choice(["1", "2", "2.5", "3", "4", "6"]))
            parts.append(f"c{rng.randint(4, 200)}")
            if kind != "cn" and rng.random() < 0.6:
                parts.append("se" + rng.choice(["0.25", "0.125", "0.5"]))
            if rng.random() < 0.2:
                parts.append("skip" if kind == "cn" else "noskip")
            if rng.random() < 0.15:
                parts.append(rng.choice(["nre", "nr6", "nsw"]))
            blocks.append("_".join(parts))
        stages.append(",".join(blocks))
    return ";".join(stages)


def smallest_resolution(arch):
    """The smallest input at which no stride-2 layer (the stem included) gets a 1x1 map; efsearch rejects less."""
    # timm turns strides past an output stride of 32 into dilation, so at most 5 layers halve the map.
    strided = min(5, 1 + sum(1 for stage in arch.split(";") if "_s2" in stage.split(",")[0]))
    resolution = 2
    while True:
        size, fits = resolution, True
        for _ in range(strided):
            if size < 2:
                fits = False
                break
            size = (size - 1) // 2 + 1
        if fits:
            return resolution
        resolution += 1


def main():
    rng = random.Random(20261127)
    cases = []
    # Presets at their published coefficients.
    for name, (width, depth, resolution) in B_SERIES.items():
        cases.append(dict(name=f"efficientnet-{name}", preset=f"efficientnet-{name}", width=width, depth=depth,
                          resolution=resolution, classes=1000))
    for name, resolution in RESOLUTIONS.items():
        cases.append(dict(name=name, preset=name, width=1.0, depth=1.0, resolution=resolution, classes=1000))
    # Presets at other widths, depths and class counts (MnasNet's generator takes no depth multiplier).
    for index in range(24):
        preset = rng.choice(["efficientnet-b0", "efficientnetv2-s", "efficientnetv2-m", "mobilenetv2-100", "mnasnet-100"])
        width = round(rng.uniform(0.25, 2.5), 3)
        depth = 1.0 if preset == "mnasnet-100" else round(rng.uniform(0.2, 3.0), 3)
        cases.append(dict(name=f"{preset}-scaled-{index}", preset=preset, width=width, depth=depth,
                          resolution=rng.choice([32, 64, 96, 128, 160, 224]), classes=rng.randint(1, 1000)))
    # Arbitrary arch strings.
    index = 0
    while index < 60:
        arch = random_arch(rng)
        case = dict(name=f"random-{index}", arch=arch, width=round(rng.uniform(0.25, 2.5), 3),
                    depth=round(rng.uniform(0.2, 3.0), 3), stem=rng.randint(4, 64),
                    head=rng.choice([0, rng.randint(16, 2048)]), classes=rng.randint(1, 1000),
                    activation=rng.choice(["silu", "relu", "relu6"]), resolution=rng.choice([64, 96, 128, 160]))
        case["resolution"] = max(case["resolution"], smallest_resolution(arch))
        try:
            with torch.device("meta"):
                model = custom_model(case["arch"], case["width"], case["depth"], case["stem"], case["head"],
                                     case["classes"], case["activation"])
        except Exception as error:  # e.g. a squeeze-excite that rounds to 0 channels
            print(f"skipping {arch}: {error}", file=sys.stderr)
            continue
        case["model"] = model
        cases.append(case)
        index += 1

    fixtures = []
    for case in cases:
        model = case.pop("model", None)
        if model is None:
            model = preset_model(case["preset"], case["width"], case["depth"], case["classes"])
        params, macs = count(model, case["resolution"])
        case.update(params=params, macs=macs, blocks=block_structure(model))
        if case["name"] in ("efficientnet-b0", "mobilenetv2-100", "random-0", "random-1", "random-2"):
            real = (preset_model(case["preset"], case["width"], case["depth"], case["classes"]) if "preset" in case
                    else custom_model(case["arch"], case["width"], case["depth"], case["stem"], case["head"],
                                      case["classes"], case["activation"]))
            real = real.to_empty(device="cpu") if any(p.is_meta for p in real.parameters()) else real
            flops = fvcore_flops(real, case["resolution"])
            if flops is not None:
                case["fvcore"] = flops
        fixtures.append(case)
        print(f"{case['name']:32s} params {params:>12,d}  MACs {macs:>16,d}", file=sys.stderr)

    meta = dict(generator="scripts/make_cost_golden.py", timm=timm.__version__, torch=torch.__version__)
    with open(OUT, "w") as handle:
        json.dump(dict(meta=meta, cases=fixtures), handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()
