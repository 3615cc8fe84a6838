#!/usr/bin/env python3
"""Writes Tests/EngineTests/Fixtures/: logits of timm's EfficientNet for checkpoints in both directions.

- timm -> efsearch: small networks initialised by timm (seeded), with random batch-norm statistics and
  affine parameters, saved with safetensors (committed as timm_*.safetensors, the spec in __metadata__).
- efsearch -> timm: checkpoints written by `efsearch init --seed S` for presets and arch strings are loaded
  into timm with load_state_dict(strict=True); only the logits are committed, since the tests rebuild the
  checkpoint from the seed.

Needs torch, timm and safetensors from PyPI and a release build (swift build -c release).
Run: python3 scripts/make_engine_golden.py
The input of every case is x[i] = 1.5 * sin(0.37 * i) over the NCHW tensor, in float32.
"""
import json
import os
import subprocess
import sys
import tempfile
from functools import partial

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from timm.models import efficientnet as tefn
from timm.models._efficientnet_builder import decode_arch_def, round_channels

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "Tests", "EngineTests", "Fixtures")
EFSEARCH = os.path.join(ROOT, ".build", "release", "efsearch")
ACTS = {"silu": nn.SiLU, "relu": nn.ReLU, "relu6": nn.ReLU6}


def make_input(batch, resolution):
    count = batch * 3 * resolution * resolution
    values = (1.5 * np.sin(0.37 * np.arange(count, dtype=np.float64))).astype(np.float32)
    return torch.from_numpy(values.reshape(batch, 3, resolution, resolution))


def build(meta):
    width = float(meta["width"])
    round_limit = float(meta.get("round_limit", 0.9))
    round_chs_fn = partial(round_channels, multiplier=width, round_limit=round_limit)
    head = int(meta["head"])
    rule = meta.get("head_scaling", "scaled")
    if head == 0:
        num_features = 0
    elif rule == "fixed":
        num_features = head
    elif rule == "atLeastBase":
        num_features = max(head, round_chs_fn(head))
    else:
        num_features = round_chs_fn(head)
    arch_def = [[s for s in stage.split(",")] for stage in meta["arch"].split(";")]
    return tefn.EfficientNet(
        block_args=decode_arch_def(arch_def, float(meta["depth"])), num_features=num_features,
        stem_size=int(meta["stem"]), round_chs_fn=round_chs_fn, num_classes=int(meta["classes"]),
        act_layer=ACTS[meta["activation"]])


def randomise_norms(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.2, generator=generator)
                module.num_batches_tracked.fill_(7)
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.normal_(0, 0.1, generator=generator)


def efsearch_checkpoint_in_timm(case, scratch):
    """Writes `efsearch init` for a case (a preset, or an arch string with width, depth, stem, head and classes)
    into `scratch` and loads it into timm's EfficientNet with strict=True."""
    from safetensors import safe_open
    path = os.path.join(scratch, case["name"] + ".safetensors")
    command = [EFSEARCH, "init", "--seed", str(case["seed"]), "--resolution", str(case["resolution"]), "--out", path]
    if "preset" in case:
        command.insert(2, case["preset"])
    else:
        command += ["--arch", case["arch"], "--width", str(case["width"]), "--depth", str(case["depth"]),
                    "--stem", str(case["stem"]), "--head", str(case["head"]), "--classes", str(case["classes"])]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with safe_open(path, "pt") as handle:
        meta = handle.metadata()
    model = build(meta)
    model.load_state_dict(load_file(path), strict=True)
    return model


def logits_of(model, batch, resolution):
    model.eval()
    with torch.no_grad():
        return model(make_input(batch, resolution)).double().numpy()


TIMM_CASES = [
    dict(name="b0-tiny", arch="ds_r1_k3_s1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;ir_r2_k5_s2_e6_c40_se0.25;"
         "ir_r3_k3_s2_e6_c80_se0.25;ir_r3_k5_s1_e6_c112_se0.25;ir_r4_k5_s2_e6_c192_se0.25;ir_r1_k3_s1_e6_c320_se0.25",
         width="0.25", depth="0.25", stem="32", head="1280", classes="10", activation="silu", resolution="64"),
    dict(name="fused-mixed", arch="cn_r2_k3_s1_c24_skip;er_r2_k3_s2_e4_c32;er_r1_k5_s2_e2.5_c40_se0.25_nre,ir_r2_k3_s1_e3_c40_nr6;"
         "ir_r2_k3_s2_e6_c64_se0.125;ds_r2_k5_s1_c64_se0.5;ds_r1_k3_s2_c72_noskip",
         width="0.5", depth="1.0", stem="16", head="0", classes="7", activation="silu", resolution="48"),
    dict(name="relu6-dilated", arch="ds_r1_k3_s2_c16;ir_r1_k3_s2_e6_c24;ir_r1_k5_s2_e6_c40;ir_r1_k3_s2_e6_c80;ir_r2_k3_s2_e6_c96;ir_r1_k7_s1_e1_c96",
         width="0.75", depth="1.0", stem="24", head="256", classes="5", activation="relu6", resolution="40"),
]

EFSEARCH_CASES = [
    dict(name="efficientnet-b0", preset="efficientnet-b0", resolution=96, seed=1),
    dict(name="efficientnet-b3", preset="efficientnet-b3", resolution=64, seed=2),
    dict(name="efficientnetv2-s", preset="efficientnetv2-s", resolution=64, seed=3),
    dict(name="mobilenetv2-100", preset="mobilenetv2-100", resolution=96, seed=4),
    dict(name="mnasnet-100", preset="mnasnet-100", resolution=64, seed=5),
    dict(name="arch-mixed", arch="cn_r1_k3_s1_c16;er_r2_k3_s2_e3_c24_se0.25;ir_r3_k5_s2_e2.5_c40_se0.25_nre;ds_r2_k3_s2_c48_se0.5",
         width=0.8, depth=1.5, stem=20, head=200, classes=13, resolution=56, seed=6),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    fixtures = dict(meta=dict(generator="scripts/make_engine_golden.py", torch=torch.__version__), timm=[], efsearch=[])
    for index, case in enumerate(TIMM_CASES):
        torch.manual_seed(100 + index)
        model = build(case)
        randomise_norms(model, torch.Generator().manual_seed(200 + index))
        path = os.path.join(OUT, f"timm_{case['name']}.safetensors")
        meta = {key: value for key, value in case.items() if key != "name"}
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path, metadata=meta)
        resolution = int(case["resolution"])
        logits = logits_of(model, 2, resolution)
        fixtures["timm"].append(dict(name=case["name"], file=os.path.basename(path), batch=2, resolution=resolution,
                                     logits=logits.reshape(-1).tolist()))
        print(f"timm -> efsearch {case['name']}: logits {logits.shape}, max |logit| {np.abs(logits).max():.3f}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as scratch:
        for case in EFSEARCH_CASES:
            model = efsearch_checkpoint_in_timm(case, scratch)
            logits = logits_of(model, 2, case["resolution"])
            entry = dict(case)
            entry.update(batch=2, logits=logits.reshape(-1).tolist())
            fixtures["efsearch"].append(entry)
            print(f"efsearch -> timm {case['name']}: logits {logits.shape}, max |logit| {np.abs(logits).max():.3f}", file=sys.stderr)

    # Batch norm in train and eval mode (PyTorch's BatchNorm2d, momentum 0.1, eps 1e-5), NCHW flattened.
    torch.manual_seed(7)
    norm = nn.BatchNorm2d(4)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0, 0.5)
        norm.running_mean.normal_(0, 0.5)
        norm.running_var.uniform_(0.5, 2)
    x = torch.randn(3, 4, 5, 5) * 2 + 0.3
    before = dict(weight=norm.weight.tolist(), bias=norm.bias.tolist(), running_mean=norm.running_mean.tolist(),
                  running_var=norm.running_var.tolist())
    norm.train()
    train_out = norm(x)
    after = dict(running_mean=norm.running_mean.tolist(), running_var=norm.running_var.tolist())
    norm.eval()
    eval_out = norm(x)
    fixtures["batch_norm"] = dict(shape=list(x.shape), input=x.reshape(-1).tolist(), before=before, after=after,
                                  train_output=train_out.detach().reshape(-1).tolist(),
                                  eval_output=eval_out.detach().reshape(-1).tolist())

    with open(os.path.join(OUT, "logits.json"), "w") as handle:
        json.dump(fixtures, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()
