"""Held-out accuracy of a checkpoint under LLaDA's no-cache decoding (REFERENCE.md sections 3-4).

Offline tool only. Greedy (temperature 0), low-confidence remasking, one block of the canvas
at a time, a full forward of the canvas every step:
- baseline: fixed steps (steps = gen length: one token per step);
- threshold T: every candidate with confidence >= T, plus always the most confident one.

Problems are batched only with others of the same prompt length, so each row sees exactly the
canvas `prompt + G masks` it would see alone (batch 1); selections are per row.

Text is decoded from the vocabulary in meta.json (the tokenizer's decoder is `▁` -> space,
concatenate) and scored with lm-eval's gsm8k extraction, as src/eval/extract.ts does it.

    python3 tools/train/eval.py --ckpt assets/arith-tiny --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import load_checkpoint, load_jsonl  # noqa: E402

COT_RE = re.compile(r"The answer is (-?[0-9.,]+)")
FLEXIBLE_RE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
NUMERIC_RE = re.compile(r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$")


def clean_number(s: str) -> str:
    s = s.replace(",", "").replace("$", "")
    return s[:-1] if s.endswith(".") else s


def extract_answer(text: str):
    m = COT_RE.search(text)
    if m:
        s = clean_number(m.group(1))
        if NUMERIC_RE.match(s):
            return s
    last = None
    for m in FLEXIBLE_RE.finditer(text):
        last = m.group(1) or m.group(2)
    if last is None:
        return None
    s = clean_number(last)
    return s or None


def is_correct(pred, target) -> bool:
    return pred is not None and bool(NUMERIC_RE.match(pred)) and float(pred) == float(target)


@torch.no_grad()
def generate(model, prompt: torch.Tensor, gen_length: int, block_length: int, steps: int,
             mask_id: int, threshold: float | None = None):
    """LLaDA no-cache generation for a batch of equal-length prompts; returns (x, nfe per row)."""
    B, Lp = prompt.shape
    dev = prompt.device
    if gen_length % block_length or steps % (gen_length // block_length):
        raise ValueError("gen_length % block_length and steps % blocks must be 0")
    nb_total = gen_length // block_length
    S = steps // nb_total
    x = torch.cat([prompt, torch.full((B, gen_length), mask_id, dtype=torch.long, device=dev)], dim=1)
    nfe = torch.zeros(B, dtype=torch.long, device=dev)
    rows = torch.arange(B, device=dev)
    for nb in range(nb_total):
        s, e = Lp + nb * block_length, Lp + (nb + 1) * block_length
        M = (x[:, s:e] == mask_id).sum(1)
        ntt = (M // S)[:, None].repeat(1, S) + (torch.arange(S, device=dev)[None, :] < (M % S)[:, None]).long()
        j = 0
        while True:
            active = (x[:, s:e] == mask_id).any(1)
            if not active.any():
                break
            logits = model(x).float()
            nfe += active.long()
            x0 = logits.argmax(-1)
            conf = torch.softmax(logits.double(), -1).gather(-1, x0[..., None]).squeeze(-1)
            cand = x == mask_id
            cand[:, e:] = False
            conf = torch.where(cand, conf, torch.full_like(conf, -float("inf")))
            x0 = torch.where(cand, x0, x)
            select = torch.zeros_like(cand)
            if threshold is None:
                k = ntt[:, j] if j < S else torch.zeros(B, dtype=torch.long, device=dev)
                order = conf.argsort(dim=1, descending=True)
                ranks = torch.empty_like(order)
                ranks.scatter_(1, order, torch.arange(x.shape[1], device=dev)[None, :].expand(B, -1))
                select = (ranks < k[:, None]) & cand
            else:
                select = (conf >= threshold) & cand
                best = conf.argmax(1)
                has = cand.any(1)
                select[rows[has], best[has]] = True
            x = torch.where(select, x0, x)
            j += 1
    return x, nfe


def decode_text(ids, id_to_token, special_ids, eos_id) -> str:
    out = []
    for i in ids:
        if i == eos_id:
            break
        if i in special_ids:
            continue
        out.append(id_to_token[i] if i < len(id_to_token) and id_to_token[i] is not None else "")
    return "".join(out).replace("\u2581", " ")


def evaluate(model, rows, meta, gen_length, block_length, steps, threshold, device, batch_size=256):
    mask_id, eos_id = meta["mask_token_id"], meta["eos_token_id"]
    special = set(meta["special_ids"])
    by_len: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_len.setdefault(len(r["prompt"]), []).append(i)
    correct = exact = 0
    nfe_total = 0
    texts = [None] * len(rows)
    for L, idxs in sorted(by_len.items()):
        for c in range(0, len(idxs), batch_size):
            chunk = idxs[c:c + batch_size]
            prompt = torch.tensor([rows[i]["prompt"] for i in chunk], dtype=torch.long, device=device)
            x, nfe = generate(model, prompt, gen_length, block_length, steps, mask_id, threshold)
            nfe_total += int(nfe.sum())
            for bi, i in enumerate(chunk):
                gen = x[bi, L:].tolist()
                text = decode_text(gen, meta["id_to_token"], special, eos_id)
                texts[i] = text
                gold = decode_text(rows[i]["answer"], meta["id_to_token"], special, eos_id)
                pred = extract_answer(text)
                correct += is_correct(pred, rows[i]["target"])
                exact += text == gold
    n = len(rows)
    return {
        "accuracy": correct / n,
        "exact_text": exact / n,
        "nfe_per_problem": nfe_total / n,
        "tokens_per_step": gen_length * n / nfe_total,
        "texts": texts,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="assets/arith-tiny")
    ap.add_argument("--data", default="tools/train/data")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=1000, help="held-out problems (from the front of heldout.jsonl)")
    ap.add_argument("--gen-length", type=int, default=64)
    ap.add_argument("--block-length", type=int, default=32)
    ap.add_argument("--thresholds", default="none,0.9,0.5", help="comma list; 'none' = baseline (steps = gen length)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--show", type=int, default=3, help="print this many decoded answers per setting")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision("highest")
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    rows = load_jsonl(os.path.join(args.data, "heldout.jsonl"))[: args.n]
    model = load_checkpoint(args.ckpt, args.device)
    results = {}
    for spec in args.thresholds.split(","):
        thr = None if spec.strip() == "none" else float(spec)
        t0 = time.time()
        r = evaluate(model, rows, meta, args.gen_length, args.block_length, args.gen_length, thr, args.device, args.batch)
        name = "baseline" if thr is None else f"threshold {thr}"
        print(f"{name}: accuracy {100 * r['accuracy']:.1f}% ({len(rows)} held-out), exact text "
              f"{100 * r['exact_text']:.1f}%, nfe/problem {r['nfe_per_problem']:.1f}, "
              f"tokens/step {r['tokens_per_step']:.2f}  [{time.time() - t0:.1f}s]", flush=True)
        for i in range(min(args.show, len(rows))):
            print(f"   {r['texts'][i]!r}  (target {rows[i]['target']})")
        results[name] = {k: v for k, v in r.items() if k != "texts"}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
