"""PyTorch (CPU, f32) baseline of the same LLaDA forward pass, for bench/forward.bench.ts.

Offline tool only. Loads a fastdllm/HF-layout LLaDA checkpoint with safetensors and times
one full forward of T tokens (median of N runs after warm-up), the same computation fastdllm's
CPU kernels do. Prints one JSON line: {"ms": median, "threads": n, "torch": version}.
Usage: python bench/torch_forward.py DIR T RUNS
"""
import json, sys, time
import torch
from safetensors.torch import load_file

def main():
    d, T, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cfg = json.load(open(f"{d}/config.json"))
    w = load_file(f"{d}/model.safetensors")
    w = {k: v.float() for k, v in w.items()}
    D, H, L = cfg["d_model"], cfg["n_heads"], cfg["n_layers"]
    hd, eps, theta = D // H, cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 500000.0)
    p = "model.transformer."
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos(), emb.sin()

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def rope(x):  # [H, T, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    ids = torch.randint(0, cfg["vocab_size"], (T,))

    @torch.inference_mode()
    def fwd():
        h = w[p + "wte.weight"][ids]
        for i in range(L):
            b = f"{p}blocks.{i}."
            a = rms(h, w[b + "attn_norm.weight"])
            q = (a @ w[b + "q_proj.weight"].T).view(T, H, hd).transpose(0, 1)
            k = (a @ w[b + "k_proj.weight"].T).view(T, H, hd).transpose(0, 1)
            v = (a @ w[b + "v_proj.weight"].T).view(T, H, hd).transpose(0, 1)
            o = torch.nn.functional.scaled_dot_product_attention(rope(q), rope(k), v)
            h = h + o.transpose(0, 1).reshape(T, D) @ w[b + "attn_out.weight"].T
            f = rms(h, w[b + "ff_norm.weight"])
            h = h + (torch.nn.functional.silu(f @ w[b + "ff_proj.weight"].T) * (f @ w[b + "up_proj.weight"].T)) @ w[b + "ff_out.weight"].T
        return rms(h, w[p + "ln_f.weight"]) @ w[p + "ff_out.weight"].T

    for _ in range(3):
        fwd()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fwd()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    print(json.dumps({"ms": ts[len(ts) // 2], "threads": torch.get_num_threads(), "torch": torch.__version__}))

if __name__ == "__main__":
    main()
