"""Trains the tiny LLaDA-architecture diffusion LM shipped in assets/arith-tiny.

Offline tool only: nothing at run time or in CI imports it.

The model is LLaDA's forward pass exactly as /work/shared/REFERENCE.md section 1 states it
(RMSNorm eps 1e-5 in f32, NeoX RoPE theta 500000 with f32 angles, non-causal attention, SwiGLU
MLP, no biases, untied LM head), with LLaDA's parameter names, so the checkpoint loads in the
TypeScript runtime like any LLaDA checkpoint.

Objective: LLaDA's SFT masked-diffusion loss. Per sample a mask ratio t ~ U(eps, 1) (drawn
stratified over the batch to lower the variance); each token of the answer region (answer ids,
then EOS up to the gen length G, as LLaDA pads its SFT data) is masked with probability t; the
prompt is never masked; the loss is the cross entropy on masked answer tokens weighted by 1/t,
summed and divided by G, averaged over the batch.

Batches are bucketed by prompt length, so every training sequence is exactly the inference
canvas `prompt ids + G answer positions` with no padding and no attention mask.

Input: tools/train/data/{train.jsonl.gz, heldout.jsonl, meta.json} from dump-data.ts.
Output (--out): config.json + model.safetensors (F32), written atomically at the end and every
--save-every seconds, so an interrupted run still leaves a usable checkpoint.

    python3 tools/train/train.py --device cuda --time-budget 240 --out OUT
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# config.json keys and values of the golden LLaDA checkpoints; the sizes and ids are
# overwritten per model.
CONFIG_TEMPLATE = {
    "activation_type": "silu",
    "alibi": False,
    "alibi_bias_max": 8.0,
    "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0,
    "attention_layer_norm": False,
    "attention_layer_norm_with_affine": True,
    "auto_map": {
        "AutoConfig": "configuration_llada.LLaDAConfig",
        "AutoModel": "modeling_llada.LLaDAModelLM",
        "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
    },
    "bias_for_layer_norm": False,
    "block_group_size": 1,
    "block_type": "llama",
    "d_model": 0,
    "embedding_dropout": 0.0,
    "embedding_size": 0,
    "eos_token_id": 0,
    "flash_attention": False,
    "include_bias": False,
    "include_qkv_bias": False,
    "init_cutoff_factor": None,
    "init_device": "meta",
    "init_fn": "mitchell",
    "init_std": 0.02,
    "input_emb_norm": False,
    "layer_norm_type": "rms",
    "layer_norm_with_affine": True,
    "mask_token_id": 0,
    "max_sequence_length": 512,
    "mlp_hidden_size": 0,
    "mlp_ratio": 4,
    "model_type": "llada",
    "multi_query_attention": None,
    "n_heads": 0,
    "n_kv_heads": 0,
    "n_layers": 0,
    "pad_token_id": 0,
    "precision": "amp_bf16",
    "residual_dropout": 0.0,
    "rms_norm_eps": 1e-05,
    "rope": True,
    "rope_full_precision": True,
    "rope_theta": 500000.0,
    "scale_logits": False,
    "transformers_version": "4.46.3",
    "use_cache": False,
    "vocab_size": 0,
    "weight_tying": False,
}


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float()).to(x.dtype)


def rope_cos_sin(positions: torch.Tensor, hd: int, theta: float):
    """cos/sin [T, hd] in f32: inv_freq[i] = 1 / theta^(2i/hd), angle = f32(pos) * inv_freq."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32, device=positions.device) / hd))
    freqs = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(t: torch.Tensor) -> torch.Tensor:
    h = t.shape[-1] // 2
    return torch.cat([-t[..., h:], t[..., :h]], dim=-1)


def apply_rope(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    tf = t.float()
    return (tf * cos + rotate_half(tf) * sin).to(t.dtype)


class Block(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, nh, nkv, mlp = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"], cfg["mlp_hidden_size"]
        self.nh, self.nkv, self.hd = nh, nkv, d // nh
        eps = cfg["rms_norm_eps"]
        self.attn_norm = RMSNorm(d, eps)
        self.q_proj = nn.Linear(d, nh * self.hd, bias=False)
        self.k_proj = nn.Linear(d, nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, nkv * self.hd, bias=False)
        self.attn_out = nn.Linear(nh * self.hd, d, bias=False)
        self.ff_norm = RMSNorm(d, eps)
        self.ff_proj = nn.Linear(d, mlp, bias=False)  # gate
        self.up_proj = nn.Linear(d, mlp, bias=False)
        self.ff_out = nn.Linear(mlp, d, bias=False)  # down

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = h.shape
        a = self.attn_norm(h)
        q = self.q_proj(a).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(a).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(a).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.nkv != self.nh:  # query head h uses kv head h // r (repeat_interleave, not tile)
            r = self.nh // self.nkv
            k, v = k.repeat_interleave(r, dim=1), v.repeat_interleave(r, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        h = h + self.attn_out(o.transpose(1, 2).reshape(B, T, -1))
        f = self.ff_norm(h)
        return h + self.ff_out(F.silu(self.ff_proj(f)) * self.up_proj(f))


class LLaDA(nn.Module):
    """Parameter names match LLaDA's: model.transformer.{wte, blocks.i.*, ln_f, ff_out}."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        self.model = nn.Module()
        self.model.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(cfg["embedding_size"], cfg["d_model"]),
                "blocks": nn.ModuleList([Block(cfg) for _ in range(cfg["n_layers"])]),
                "ln_f": RMSNorm(cfg["d_model"], cfg["rms_norm_eps"]),
                "ff_out": nn.Linear(cfg["d_model"], cfg["embedding_size"], bias=False),
            }
        )

    def init_weights(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        std = self.cfg["init_std"]
        for name, p in self.named_parameters():
            if p.dim() == 1:
                continue
            s = std
            if name.endswith(".attn_out.weight") or (".blocks." in name and name.endswith(".ff_out.weight")):
                s = std / math.sqrt(2 * self.cfg["n_layers"])  # residual-branch outputs
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * s)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tr = self.model.transformer
        T = ids.shape[1]
        hd = self.cfg["d_model"] // self.cfg["n_heads"]
        cos, sin = rope_cos_sin(torch.arange(T, device=ids.device), hd, self.cfg["rope_theta"])
        h = tr["wte"](ids)
        for blk in tr["blocks"]:
            h = blk(h, cos, sin)
        return tr["ff_out"](tr["ln_f"](h))


def make_config(meta: dict, d: int, layers: int, heads: int, mlp: int, kv_heads: int | None = None) -> dict:
    cfg = dict(CONFIG_TEMPLATE)
    cfg.update(
        d_model=d,
        n_layers=layers,
        n_heads=heads,
        n_kv_heads=kv_heads or heads,
        mlp_hidden_size=mlp,
        vocab_size=meta["vocab_size"],
        embedding_size=meta["vocab_size"],
        mask_token_id=meta["mask_token_id"],
        eos_token_id=meta["eos_token_id"],
        pad_token_id=meta["pad_token_id"],
    )
    return cfg


def save_checkpoint(model: LLaDA, out_dir: str):
    """config.json + model.safetensors (F32), each written to a temp file then renamed."""
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    tmp = os.path.join(out_dir, ".model.safetensors.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    tmp = os.path.join(out_dir, ".config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(model.cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "config.json"))


def load_checkpoint(ckpt_dir: str, device: str) -> LLaDA:
    from safetensors.torch import load_file

    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    model = LLaDA(cfg)
    state = load_file(os.path.join(ckpt_dir, "model.safetensors"))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load_jsonl(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


class Buckets:
    """Problems grouped by prompt length; each bucket holds [N, Lp] prompts, [N, G] answers."""

    def __init__(self, rows: list[dict], gen_length: int, eos: int, device: str):
        by_len: dict[int, list[dict]] = {}
        for r in rows:
            if len(r["answer"]) >= gen_length:
                raise ValueError(f"answer of {len(r['answer'])} tokens does not fit gen length {gen_length}")
            by_len.setdefault(len(r["prompt"]), []).append(r)
        self.lengths = sorted(by_len)
        self.prompts, self.answers = [], []
        for L in self.lengths:
            rs = by_len[L]
            self.prompts.append(torch.tensor([r["prompt"] for r in rs], dtype=torch.long, device=device))
            self.answers.append(
                torch.tensor([r["answer"] + [eos] * (gen_length - len(r["answer"])) for r in rs], dtype=torch.long, device=device)
            )
        counts = torch.tensor([len(by_len[L]) for L in self.lengths], dtype=torch.float)
        self.probs = counts / counts.sum()

    def sample(self, batch: int, g: torch.Generator):
        b = int(torch.multinomial(self.probs, 1, generator=g))
        n = self.prompts[b].shape[0]
        idx = torch.randint(0, n, (batch,), generator=g).to(self.prompts[b].device)
        return self.prompts[b][idx], self.answers[b][idx]


def diffusion_loss(model: LLaDA, prompt: torch.Tensor, answer: torch.Tensor, mask_id: int, gen: torch.Generator | None, eps: float = 1e-3, amp: bool = False):
    B, G = answer.shape
    dev = answer.device
    u = torch.rand((), generator=gen).item() if gen is not None else 0.5
    t = ((torch.arange(B, device=dev, dtype=torch.float32) + u) / B) * (1 - eps) + eps  # stratified
    masked = torch.rand(B, G, device=dev) < t[:, None]
    noisy = torch.where(masked, torch.full_like(answer, mask_id), answer)
    x = torch.cat([prompt, noisy], dim=1)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
        logits = model(x)[:, prompt.shape[1]:]
    ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), answer.reshape(-1), reduction="none").view(B, G)
    loss = ((ce / t[:, None]) * masked).sum() / (B * G)
    return loss, (ce * masked).sum() / masked.sum().clamp(min=1)


@torch.no_grad()
def heldout_loss(model: LLaDA, buckets: Buckets, mask_id: int, amp: bool, n_batches: int = 8, batch: int = 256) -> float:
    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(1234)
    model.eval()
    tot = 0.0
    for _ in range(n_batches):
        p, a = buckets.sample(batch, g)
        loss, _ = diffusion_loss(model, p, a, mask_id, None, amp=amp)
        tot += loss.item()
    model.train()
    return tot / n_batches


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="tools/train/data")
    ap.add_argument("--out", default="assets/arith-tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--mlp", type=int, default=512)
    ap.add_argument("--gen-length", type=int, default=64)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--time-budget", type=float, default=240.0, help="seconds of training (the lr decays over it)")
    ap.add_argument("--save-every", type=float, default=60.0, help="seconds between checkpoints")
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (its config wins over the size flags); the optimizer and lr schedule start afresh")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = args.device
    amp = dev.startswith("cuda")
    if amp:
        torch.backends.cuda.matmul.allow_tf32 = True

    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    cfg = make_config(meta, args.d_model, args.layers, args.heads, args.mlp)
    t0 = time.time()
    train = Buckets(load_jsonl(os.path.join(args.data, "train.jsonl.gz")), args.gen_length, meta["eos_token_id"], dev)
    held = Buckets(load_jsonl(os.path.join(args.data, "heldout.jsonl")), args.gen_length, meta["eos_token_id"], dev)
    print(f"data: {sum(p.shape[0] for p in train.prompts)} train problems in {len(train.lengths)} buckets "
          f"(prompt lengths {train.lengths[0]}..{train.lengths[-1]}), loaded in {time.time() - t0:.1f}s", flush=True)

    if args.init:
        model = load_checkpoint(args.init, "cpu")
        cfg = model.cfg
        print(f"init: weights from {args.init}", flush=True)
    else:
        model = LLaDA(cfg)
        model.init_weights(args.seed)
    model.to(dev).train()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: d {cfg['d_model']} layers {cfg['n_layers']} heads {cfg['n_heads']} mlp {cfg['mlp_hidden_size']} "
          f"vocab {cfg['vocab_size']}: {n_params / 1e6:.2f}M params ({n_params * 4 / 2**20:.1f} MiB f32)", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if amp else {}),
    )
    g = torch.Generator().manual_seed(args.seed + 1)
    mask_id = meta["mask_token_id"]

    start = time.time()
    last_save = start
    step = 0
    acc = torch.zeros(2, device=dev)  # loss, masked CE summed over the log interval (no sync per step)
    acc_n = 0
    last_loss = float("nan")
    while step < args.max_steps:
        elapsed = time.time() - start
        frac = min(elapsed / args.time_budget, 1.0)
        if elapsed >= args.time_budget:
            break
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        lr *= args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac))
        for grp in opt.param_groups:
            grp["lr"] = lr
        p, a = train.sample(args.batch, g)
        loss, ce = diffusion_loss(model, p, a, mask_id, g, amp=amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        acc += torch.stack([loss.detach(), ce.detach()])
        acc_n += 1
        if step % args.log_every == 0 or step == 1:
            lv, cv = (acc / acc_n).tolist()
            last_loss = lv
            acc.zero_()
            acc_n = 0
            print(f"step {step} t {time.time() - start:.0f}s lr {lr:.2e} loss {lv:.4f} masked-ce {cv:.4f} "
                  f"(means over the last {args.log_every if step > 1 else 1} steps)", flush=True)
        if time.time() - last_save >= args.save_every:
            save_checkpoint(model, args.out)
            last_save = time.time()
            print(f"saved {args.out} at step {step}", flush=True)

    train_time = time.time() - start
    save_checkpoint(model, args.out)
    hl = heldout_loss(model, held, mask_id, amp)
    tl = heldout_loss(model, train, mask_id, amp)
    print(f"done: {step} steps in {train_time:.0f}s ({step / max(train_time, 1e-9):.1f} steps/s), "
          f"last logged train loss {last_loss:.4f}; "
          f"eval diffusion loss train {tl:.4f} heldout {hl:.4f}; saved {args.out}", flush=True)


if __name__ == "__main__":
    main()
