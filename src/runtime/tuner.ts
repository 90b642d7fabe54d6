import type { Graph } from '../ir/graph.ts';
import { cpuPrelude } from '../codegen/cpu/prelude.ts';
import { packedLength, packedWeights } from '../codegen/cpu/render.ts';
import { DEFAULT_GEMM, gemmKey, gemmSpace, type CpuGemmConfig } from '../codegen/cpu/tuning.ts';
import { debugLog } from '../env.ts';
import { median } from '../util/math.ts';
import { compileCpuModule } from './native/cpu-backend.ts';
import type { CpuTuneResult, CpuTuneTrial } from './cpu-tuning-file.ts';

/** The packed GEMM shapes of a graph (the kernels tuning applies to). */
export function gemmShapes(g: Graph): { n: number; k: number }[] {
  const seen = new Map<string, { n: number; k: number }>();
  for (const id of packedWeights(g)) {
    const [n, k] = g.node(id).shape as number[];
    seen.set(gemmKey(n, k), { n, k });
  }
  return [...seen.values()];
}

/**
 * Times every config of every shape on random inputs (one module holds all variants: one
 * compile), at each token count, median of `reps` runs after warm-up; the best total wins.
 */
export async function tuneGemms(shapes: { n: number; k: number }[], opts: { tokens: number[]; reps: number; cxx: { path: string; version: string } }): Promise<CpuTuneResult[]> {
  const variants: { key: string; shape: { n: number; k: number }; config: CpuGemmConfig; sym: string }[] = [];
  const bodies: string[] = [];
  for (const s of shapes) {
    bodies.push(`extern "C" void tpack_n${s.n}_k${s.k}(const float* w, float* wp) { fd::pack_panels<${s.n}, ${s.k}>(w, wp); }`);
    for (const c of gemmSpace(s.k)) {
      const sym = `tgemm_n${s.n}_k${s.k}_kb${c.kb}_mr${c.mr}`;
      variants.push({ key: gemmKey(s.n, s.k), shape: s, config: c, sym });
      bodies.push(`extern "C" void ${sym}(const float* x, const float* wp, float* out, int64_t m) { fd::gemm_packed<${s.n}, ${s.k}, false, false, ${c.kb}, ${c.mr}>(x, wp, nullptr, nullptr, out, m); }`);
    }
  }
  const { lib } = await compileCpuModule(`// fastdllm GEMM tuning module\n${cpuPrelude()}\n${bodies.join('\n')}\n`, opts.cxx);
  const results: CpuTuneResult[] = [];
  for (const s of shapes) {
    const key = gemmKey(s.n, s.k);
    const maxM = Math.max(...opts.tokens);
    const x = Float32Array.from({ length: maxM * s.k }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
    const w = Float32Array.from({ length: s.n * s.k }, (_, i) => ((i * 40503) % 1000) / 1000 - 0.5);
    const wp = new Float32Array(packedLength(s.n, s.k));
    lib.func(`tpack_n${s.n}_k${s.k}`, 'void', ['const float *', 'float *'])(w, wp);
    const out = new Float32Array(maxM * s.n);
    const trials: CpuTuneTrial[] = [];
    for (const v of variants.filter((u) => u.key === key)) {
      let ms = 0, flops = 0;
      try {
        const f = lib.func(v.sym, 'void', ['const float *', 'const float *', 'float *', 'int64_t']);
        for (const m of opts.tokens) {
          for (let i = 0; i < 2; i++) f(x, wp, out, m);
          const times: number[] = [];
          for (let i = 0; i < opts.reps; i++) { const t0 = performance.now(); f(x, wp, out, m); times.push(performance.now() - t0); }
          ms += median(times);
          flops += 2 * m * s.n * s.k;
        }
      } catch (e) {
        debugLog(1, `tune ${v.sym} failed: ${(e as Error).message}`);
        ms = Infinity;
      }
      trials.push({ config: v.config, ms, gflops: ms > 0 && Number.isFinite(ms) ? flops / ms / 1e6 : 0 });
    }
    trials.sort((a, b) => a.ms - b.ms);
    const def = trials.find((t) => t.config.kb === Math.min(DEFAULT_GEMM.kb, s.k) && t.config.mr === DEFAULT_GEMM.mr);
    results.push({ key, n: s.n, k: s.k, tokens: opts.tokens, trials, best: trials[0].config, defaultMs: def?.ms ?? NaN });
  }
  return results;
}
