"""PyTorch baseline of the step bench/device/step-bench.ts times, plus the two ceilings.

Same computation: a 4-layer LLaDA-8B-width model (d 4096, 32 heads of 128, MLP 12288, vocab
126464), bf16 weights, one dual-cache step: a 32-row window at rows 256..287 of a 288-row KV
cache, attention over all 288 keys, LM head on 32 rows. Eager PyTorch (cuBLAS GEMMs, SDPA).
Also measures a device-to-device copy (bytes read + written) and an 8192^3 bf16 matmul.
Times with CUDA events after warm-up, median of many. Prints the results as JSON, last line.
"""
import json
import torch

def median_ms(fn, reps=50, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]

def main():
    dev = torch.device('cuda')
    torch.manual_seed(0)
    res = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0)}
    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, device=dev).fill_(1)
    dst = torch.empty_like(src)
    res['copyGBs'] = 2 * n / (median_ms(lambda: dst.copy_(src), reps=10) / 1e3) / 1e9
    del src, dst
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    res['matmulTflops'] = 2 * 8192 ** 3 / (median_ms(lambda: a @ b, reps=20) / 1e3) / 1e12
    del a, b

    L, D, H, HD, F, V, T, K, S = 4, 4096, 32, 128, 12288, 126464, 32, 288, 256
    bf = dict(device=dev, dtype=torch.bfloat16)
    w = lambda *s: (torch.rand(*s, **bf) - 0.5) * 0.0346
    layers = [dict(an=torch.ones(D, **bf), qkv=w(3 * D, D), o=w(D, D), fn=torch.ones(D, **bf), gu=w(2 * F, D), d=w(D, F)) for _ in range(L)]
    head, lnf, wte = w(V, D), torch.ones(D, **bf), w(V, D)
    kc = [torch.randn(1, H, K, HD, **bf) for _ in range(L)]
    vc = [torch.randn(1, H, K, HD, **bf) for _ in range(L)]
    ids = torch.randint(0, V, (1, T), device=dev)
    pos = torch.arange(S, S + T, device=dev, dtype=torch.float32)
    inv = 1.0 / (500000.0 ** (torch.arange(0, HD, 2, device=dev, dtype=torch.float32) / HD))
    ang = torch.outer(pos, inv)
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1).to(torch.bfloat16), torch.cat([ang.sin(), ang.sin()], -1).to(torch.bfloat16)

    def rms(x, g):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16) * g

    def rope(x):
        x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def step():
        h = wte[ids].float()
        for i, l in enumerate(layers):
            a = rms(h, l['an'])
            q, k, v = (a @ l['qkv'].T).split(D, -1)
            q = rope(q.view(1, T, H, HD).transpose(1, 2))
            k = rope(k.view(1, T, H, HD).transpose(1, 2))
            kc[i][:, :, S:S + T] = k
            vc[i][:, :, S:S + T] = v.view(1, T, H, HD).transpose(1, 2)
            o = torch.nn.functional.scaled_dot_product_attention(q, kc[i], vc[i])
            h = h + (o.transpose(1, 2).reshape(1, T, D) @ l['o'].T).float()
            f = rms(h, l['fn'])
            g, u = (f @ l['gu'].T).split(F, -1)
            h = h + ((torch.nn.functional.silu(g) * u) @ l['d'].T).float()
        return rms(h, lnf) @ head.T

    with torch.no_grad():
        res['stepMsMedian'] = median_ms(step)
        g = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            step()
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(g):
            step()
        res['stepGraphMsMedian'] = median_ms(g.replay)
    print(json.dumps(res))

if __name__ == '__main__':
    main()
