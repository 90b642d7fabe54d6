"""How far does a standard PyTorch bf16 forward land from f32 on the model of the bf16-at-width check?

The GPU check (test/cuda/gpu-bf16-wide.test.ts) compares fastdllm's bf16 logits with its f32 ones
on a 4-layer model of LLaDA-8B's width with random weights (std 0.02, LM head std 0.003; weights
bf16-exact in both runs, so only activation rounding differs). "Within bf16 tolerance" needs a
yardstick: this script measures the same statistic (relative norm error of the logits of the
first 32 rows of a 288-token full call) for PyTorch itself, with the HF convention (bf16 weights
and activations, f32 accumulation in matmuls, RMSNorm and RoPE in f32 then cast back).

Offline tool (CPU is fine, ~1-3 min on 2 cores):
    v/bin/python bench/device/bf16_yardstick.py [--tokens 288] [--seeds 2]
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train"))
from train import LLaDA, make_config  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=288)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    meta = {"vocab_size": 16384, "mask_token_id": 126336 % 16384, "eos_token_id": 2, "pad_token_id": 2}
    cfg = make_config(meta, 4096, a.layers, 32, 12288)
    for seed in range(a.seeds):
        torch.manual_seed(seed)
        m = LLaDA(cfg)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in m.named_parameters():
                if p.dim() == 1:
                    continue
                std = 0.003 if name.endswith("transformer.ff_out.weight") else 0.02
                # bf16-exact weights: both runs then see the same numbers; only activations differ.
                p.copy_((torch.randn(p.shape, generator=g) * std).to(torch.bfloat16).float())
        ids = (torch.arange(a.tokens) * 7919 + 13) % cfg["vocab_size"]
        with torch.no_grad():
            ref = m(ids[None])[0, : a.rows].double()
            m16 = m.to(torch.bfloat16)
            out = m16(ids[None])[0, : a.rows].double()
        err = (out - ref).norm() / ref.norm()
        tol = ((out - ref).abs() > 1e-2 + 1.6e-2 * ref.abs()).sum().item()
        print(f"seed {seed}: logits rms {ref.pow(2).mean().sqrt():.3f}, PyTorch bf16 vs f32 relative norm error {err:.3e}, "
              f"max |err| {(out - ref).abs().max():.3e}, {tol} of {out.numel()} outside atol 1e-2 rtol 1.6e-2", flush=True)
        del m, m16


if __name__ == "__main__":
    main()
