import { moduleSource } from '../../codegen/cuda/module.ts';
import type { CudaKernel, CudaPlan, PackSpec } from '../../codegen/cuda/types.ts';
import { debugLog } from '../../env.ts';
import { ParamBlock } from '../ffi/cuda-driver.ts';
import type { WeightSource } from '../executor.ts';
import type { KernelCache } from '../kernel-cache.ts';
import { compileModule, type CompiledModule } from './compile.ts';
import type { CudaContext, FunctionAttributes } from './context.ts';
import { formatBytes } from '../../util/format.ts';
import type { LoadedKernel } from './launch.ts';
import { packWeight, toBf16 } from './weights.ts';

/** Compiles (or finds cached) and loads every kernel of a plan, several compiles at a time. */
export async function loadKernels(ctx: CudaContext, plan: CudaPlan, cache: KernelCache, compile: boolean): Promise<LoadedKernel[]> {
  if (!compile) return plan.kernels.map((k) => ({ kernel: k, fn: 1n, params: new ParamBlock(k.params.length), attrs: null, compiled: null }));
  const cc = ctx.info.major * 10 + ctx.info.minor;
  const byName = new Map<string, CudaKernel>();
  for (const k of plan.kernels) if (k.family !== 'host') byName.set(k.name, k);
  for (const k of byName.values()) {
    if (cc < k.minArch) throw new Error(`${k.name} needs compute capability ${k.minArch / 10} or newer; ${ctx.info.name} is ${ctx.info.major}.${ctx.info.minor}${plan.precision === 'bf16' ? ' (use --precision f32)' : ''}`);
  }
  const compiled = new Map<string, CompiledModule>();
  const queue = [...byName.values()];
  const workers = Array.from({ length: Math.min(8, queue.length) }, async () => {
    for (let k = queue.shift(); k; k = queue.shift()) compiled.set(k.name, await compileModule(k.name, moduleSource(k), cc, cache));
  });
  await Promise.all(workers);
  const fns = new Map<string, { fn: bigint; attrs: FunctionAttributes }>();
  for (const [name, m] of compiled) {
    const mod = ctx.loadModule(m.image, name);
    const fn = ctx.getFunction(mod, name);
    const attrs = ctx.functionAttributes(fn);
    fns.set(name, { fn, attrs });
    debugLog(1, `kernel ${name}: ${attrs.registers} registers, ${attrs.localBytes} B local, ${attrs.sharedBytes} B shared (${m.compiler}${m.cacheHit ? ', cached' : ''})`);
  }
  return plan.kernels.map((k) => ({
    kernel: k,
    fn: fns.get(k.name)?.fn ?? 0n,
    params: new ParamBlock(k.params.length),
    attrs: fns.get(k.name)?.attrs ?? null,
    compiled: compiled.get(k.name) ?? null,
  }));
}

/**
 * Packs and uploads every weight a plan reads, converting to bf16 where the pack says so.
 * `packs` keeps the packed host arrays by pack key for other executors of the same graph and
 * weights (packing does not depend on tile configs): the tuner and the benches build many.
 */
export function uploadWeights(ctx: CudaContext, plan: CudaPlan, source: WeightSource, packs?: Map<string, Float32Array | Uint16Array>): Map<string, { ptr: bigint; bytes: number }> {
  const shapes = new Map<string, number[]>();
  for (const n of plan.graph.ofKind('param')) {
    if (n.shape.some((x) => typeof x !== 'number')) throw new Error(`param '${n.attrs.name}' has a symbolic shape`);
    shapes.set(n.attrs.name, n.shape as number[]);
  }
  // Keep a fetched tensor only until the last pack that reads it (real models do not fit twice).
  const uses = new Map<string, number>();
  for (const p of plan.packs) if (!packs?.has(p.key)) for (const part of p.parts) if (part.param) uses.set(part.param, (uses.get(part.param) ?? 0) + 1);
  const fetched = new Map<string, Float32Array>();
  const fetch = (name: string) => {
    let v = fetched.get(name);
    if (!v) fetched.set(name, (v = source(name, shapes.get(name)!)));
    return v;
  };
  const out = new Map<string, { ptr: bigint; bytes: number }>();
  for (const p of plan.packs) {
    const have = packs?.get(p.key);
    const data = have ?? (p.dtype === 'bf16' ? toBf16(packWeight(p, fetch)) : packWeight(p, fetch));
    packs?.set(p.key, data);
    const ptr = ctx.alloc(data.byteLength, `weight ${describePack(p)}`);
    ctx.upload(ptr, data);
    out.set(p.key, { ptr, bytes: data.byteLength });
    if (have) continue;
    for (const part of p.parts) {
      if (!part.param) continue;
      const left = uses.get(part.param)! - 1;
      uses.set(part.param, left);
      if (left === 0) fetched.delete(part.param);
    }
  }
  return out;
}

const describePack = (p: PackSpec) => `${p.parts.map((x) => x.param ?? '(zeros)').join(' + ')} (${p.dtype}, ${formatBytes(p.rows * Math.max(1, p.cols) * (p.dtype === 'bf16' ? 2 : 4))})`;

