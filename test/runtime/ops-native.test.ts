import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.ts';
import { GraphExecutor } from '../../src/runtime/executor.ts';
import { referenceBackend } from '../../src/runtime/reference/backend.ts';
import { nativeCpuBackend, findCxx } from '../../src/runtime/native/cpu-backend.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import { TEST_SEED, allcloseExcess, mulberry, randomF32 } from '../helpers/random.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

/**
 * Every op with a generated C++ kernel, at odd sizes, in ONE graph (one compile): the native
 * kernels must match the TypeScript reference on fresh random inputs (f32: atol 1e-5, rtol 1e-4).
 */
describeGated(CXX, `native CPU kernels vs reference (SEED=${TEST_SEED})`, () => {
  it('match on random inputs at sizes 1, 7, 33, 129', async () => {
    const rnd = mulberry(TEST_SEED);
    const b = new GraphBuilder();
    const inputs: Record<string, HostTensor> = {};
    const weights = new Map<string, Float32Array>();
    const B = 2, T = 7, Kmax = 33, K = 19;
    const f32in = (name: string, shape: number[], scale = 1) => {
      inputs[name] = { data: randomF32(shape.reduce((a, c) => a * c, 1), rnd, scale), shape };
      return b.input(name, 'f32', shape.map((d, i) => (i === 0 ? 'B' : d)));
    };
    const param = (name: string, shape: number[], scale = 1) => {
      weights.set(name, randomF32(shape.reduce((a, c) => a * c, 1), rnd, scale));
      return b.param(name, shape);
    };
    // matmul variants at odd M, K, N
    for (const [k, n] of [[1, 1], [7, 33], [33, 7], [129, 33], [64, 129]]) {
      const x = f32in(`x_${k}_${n}`, [B, T, k]);
      const w = param(`w_${k}_${n}`, [n, k]);
      b.output(`mm_${k}_${n}`, b.matmul(x, w));
      b.output(`mmb_${k}_${n}`, b.matmul(x, w, { bias: param(`b_${k}_${n}`, [n]) }));
      b.output(`mmr_${k}_${n}`, b.matmul(x, w, { residual: f32in(`r_${k}_${n}`, [B, T, n]) }));
    }
    // rmsnorm, elementwise
    const h = f32in('h', [B, T, 33], 3);
    b.output('rms', b.rmsnorm(h, param('g', [33]), 1e-5));
    const h2 = f32in('h2', [B, T, 33], 3);
    b.output('silu', b.silu(h));
    b.output('add', b.add(h, h2));
    b.output('mul', b.mul(h, h2));
    b.output('silu_mul', b.siluMul(h, h2));
    b.output('gelu', b.gelu(h));
    // embedding
    const ids = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * 129));
    inputs.ids = { data: ids, shape: [B, T] };
    const idsT = b.input('ids', 'i32', ['B', T]);
    b.output('embed', b.embedding(param('table', [129, 33]), idsT));
    // rope at arbitrary absolute positions
    const pos = Int32Array.from({ length: B * T }, () => Math.floor(rnd() * 4000));
    inputs.pos = { data: pos, shape: [B, T] };
    const posT = b.input('pos', 'i32', ['B', T]);
    const q = f32in('q', [B, T, 4 * 14]);
    b.output('rope', b.rope(q, posT, 4, 14, 500000));
    // cache write + GQA attention with a padding mask, repeat_kv folded and unfolded
    const kvDim = 2 * 14;
    const kc = b.state('kc', 'f32', ['B', Kmax, kvDim]), vc = b.state('vc', 'f32', ['B', Kmax, kvDim]);
    const start = b.input('start', 'i32', []);
    inputs.start = { data: Int32Array.of(5), shape: [] };
    const kw = b.cacheWrite(kc, f32in('kwin', [B, T, kvDim]), start);
    const vw = b.cacheWrite(vc, f32in('vwin', [B, T, kvDim]), start);
    const mask = new Uint8Array(B * K).map((_, i) => (i % K < (i < K ? 0 : 3) ? 0 : 1));
    inputs.mask = { data: mask, shape: [B, K] };
    const maskT = b.input('mask', 'bool', ['B', K]);
    b.output('attn_gqa', b.attention(q, kw, vw, maskT, { heads: 4, kvHeads: 2, headDim: 14, scale: 0.3 }));
    b.output('attn_rep', b.attention(q, b.repeatKv(kw, 2, 14, 2), b.repeatKv(vw, 2, 14, 2), maskT, { heads: 4, kvHeads: 4, headDim: 14, scale: 0.3 }));
    // head dims that are whole vectors (16, 24: the CPU's tiled attention path, transposed keys
    // and several query rows per value row) at 19 keys and 7 query rows; rope positions past the
    // kernel's (cos, sin) table (2^16) next to ones inside it
    const posFar = Int32Array.from({ length: B * T }, (_, i) => (i % 2 ? 65530 + i : Math.floor(rnd() * 4000)));
    inputs.posFar = { data: posFar, shape: [B, T] };
    const posFarT = b.input('posFar', 'i32', ['B', T]);
    for (const hd of [16, 24]) {
      const qv = f32in(`q${hd}`, [B, T, 4 * hd]);
      b.output(`rope${hd}`, b.rope(qv, posFarT, 4, hd, 10000));
      const kc2 = b.state(`kc${hd}`, 'f32', ['B', Kmax, 2 * hd]), vc2 = b.state(`vc${hd}`, 'f32', ['B', Kmax, 2 * hd]);
      const kw2 = b.cacheWrite(kc2, f32in(`kwin${hd}`, [B, T, 2 * hd]), start);
      const vw2 = b.cacheWrite(vc2, f32in(`vwin${hd}`, [B, T, 2 * hd]), start);
      b.output(`attn${hd}`, b.attention(qv, kw2, vw2, maskT, { heads: 4, kvHeads: 2, headDim: hd, scale: 0.3 }));
    }
    // gather rows + logit shift
    const rows = Int32Array.from({ length: B * 3 }, () => Math.floor(rnd() * T));
    inputs.rows = { data: rows, shape: [B, 3] };
    b.output('gather', b.gatherRows(h, b.input('rows', 'i32', ['B', 3])));
    b.output('shift', b.logitShift(h));
    const g = b.build();

    const states = () => ({
      kc: { data: randomF32(B * Kmax * kvDim, mulberry(TEST_SEED + 1)), shape: [B, Kmax, kvDim] },
      vc: { data: randomF32(B * Kmax * kvDim, mulberry(TEST_SEED + 2)), shape: [B, Kmax, kvDim] },
      ...Object.fromEntries([16, 24].flatMap((hd) => ['kc', 'vc'].map((n, j) => [`${n}${hd}`, { data: randomF32(B * Kmax * 2 * hd, mulberry(TEST_SEED + 3 + hd + j)), shape: [B, Kmax, 2 * hd] }]))),
    });
    const source = (name: string) => weights.get(name)!;
    const ref = (await GraphExecutor.create(g, referenceBackend, source)).run(inputs, states());
    const nat = (await GraphExecutor.create(g, nativeCpuBackend(findCxx()!), source)).run(inputs, states());
    for (const name of Object.keys(g.outputs)) {
      expect(nat[name].shape, name).toEqual(ref[name].shape);
      const excess = allcloseExcess(nat[name].data, ref[name].data, 1e-5, 1e-4);
      expect(excess, `${name} (SEED=${TEST_SEED})`).toBeLessThanOrEqual(0);
    }
  });
});
