#!/usr/bin/env python3
"""Writes Tests/EngineTests/Fixtures/zero_cost.json: synflow and NASWOT computed by PyTorch + timm.

Networks: the committed timm_*.safetensors fixtures (timm-initialised, random batch-norm statistics) and
checkpoints written by `efsearch init --seed S` (the tests rebuild those from the seed), among them deep presets
whose synflow overflows float32, so that efsearch's log-space computation is checked where it matters.

Definitions (the README's):
- synflow: the network in float64, every state-dict tensor replaced by its absolute value, eval mode (batch norm
  from its running statistics), an all-ones 1x3xRxR input, R = sum of the logits, backward; the score is the sum
  over every Conv2d and Linear weight of |w * dR/dw|, reported as its natural log.
- naswot: train mode (batch statistics), one forward of the batch; for every SiLU / ReLU / ReLU6 module, each
  image's code is (input > 0) over the module's input; K = sum over modules of C C^T + (1 - C)(1 - C)^T; the
  score is log |det K| (numpy's slogdet).

The naswot batch is the golden input of make_engine_golden.py: x[i] = 1.5 * sin(0.37 * i) over the NCHW tensor.
Needs torch, timm and safetensors from PyPI and a release build (swift build -c release).
Run: python3 scripts/make_zero_cost_golden.py
"""
import copy
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_engine_golden import OUT, build, efsearch_checkpoint_in_timm, make_input  # noqa: E402

BATCH = 8


def synflow(model, resolution):
    model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    model.zero_grad()
    output = model(torch.ones(1, 3, resolution, resolution, dtype=torch.float64))
    output.sum().backward()
    total = 0.0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            total += (module.weight * module.weight.grad).abs().sum().item()
    return math.log(total), float(output.sum().item())


def naswot(model, resolution):
    model = copy.deepcopy(model).train()
    x = make_input(BATCH, resolution)
    kernel = np.zeros((BATCH, BATCH))

    def hook(module, inputs):
        codes = (inputs[0].detach().reshape(BATCH, -1) > 0).double().numpy()
        kernel[:] += codes @ codes.T + (1 - codes) @ (1 - codes).T

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, (nn.SiLU, nn.ReLU, nn.ReLU6))]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign != 0 else None


TIMM_FILES = ["timm_b0-tiny.safetensors", "timm_fused-mixed.safetensors", "timm_relu6-dilated.safetensors"]

EFSEARCH_CASES = [
    dict(name="efficientnet-b0", preset="efficientnet-b0", resolution=64, seed=11),
    dict(name="mobilenetv2-100", preset="mobilenetv2-100", resolution=48, seed=12),
    dict(name="efficientnet-b7", preset="efficientnet-b7", resolution=32, seed=13),
    dict(name="efficientnetv2-l", preset="efficientnetv2-l", resolution=32, seed=14),
    dict(name="arch-small", arch="ds_r1_k3_s1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;er_r1_k3_s2_e4_c32", width=0.5, depth=1.0,
         stem=16, head=64, classes=10, resolution=32, seed=15),
]


def main():
    result = dict(meta=dict(generator="scripts/make_zero_cost_golden.py", torch=torch.__version__, batch=BATCH), timm=[], efsearch=[])
    for name in TIMM_FILES:
        path = os.path.join(OUT, name)
        with safe_open(path, "pt") as handle:
            meta = handle.metadata()
        model = build(meta)
        model.load_state_dict(load_file(path), strict=True)
        resolution = int(meta["resolution"])
        log_synflow, total = synflow(model, resolution)
        entry = dict(file=name, resolution=resolution, synflow=log_synflow, naswot=naswot(model, resolution))
        result["timm"].append(entry)
        print(f"{name}: synflow {log_synflow:.4f} (R = {total:.3e}), naswot {entry['naswot']}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        for case in EFSEARCH_CASES:
            model = efsearch_checkpoint_in_timm(case, scratch)
            log_synflow, total = synflow(model, case["resolution"])
            entry = dict(case)
            entry.update(synflow=log_synflow, naswot=naswot(model, case["resolution"]))
            result["efsearch"].append(entry)
            print(f"{case['name']}: synflow {log_synflow:.4f} (R = {total:.3e}), naswot {entry['naswot']}", file=sys.stderr)
    with open(os.path.join(OUT, "zero_cost.json"), "w") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()
