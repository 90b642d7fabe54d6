import { moduleSource } from '../../codegen/cuda/module.ts';
import { packBytes, type CudaKernel, type CudaPlan, type PackSpec } from '../../codegen/cuda/types.ts';
import { debugLog } from '../../env.ts';
import { ParamBlock } from '../ffi/cuda-driver.ts';
import type { KernelCache } from '../kernel-cache.ts';
import { compileModule, type CompiledModule } from './compile.ts';
import type { CudaContext, FunctionAttributes } from './context.ts';
import { formatBytes } from '../../util/format.ts';
import type { LoadedKernel } from './launch.ts';
import { PackScratch, streamPack } from './weights.ts';
import type { TensorReader } from '../tensor-reader.ts';

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

/** What loading a plan's weights held on the host and sent to the device. */
export interface LoadStats {
  /** Most host bytes the load held at once for weights: its chunk buffers (and a WeightSource's whole tensors). */
  hostPeakBytes: number;
  /** Bytes uploaded (every pack once). */
  uploadedBytes: number;
  /** The largest single pack, bytes (what a load holding one whole pack would hold). */
  largestPackBytes: number;
}

/**
 * Packs and uploads every weight a plan reads, streamed (streamPack): each pack is allocated on
 * the device and filled a chunk of rows at a time from the weights in their stored dtype, so the
 * host holds one chunk, not a tensor, and never an f32 copy of a bf16 model. `packs` keeps the
 * packed host arrays by pack key for other executors of the same graph and weights (packing does
 * not depend on tile configs): the tuner and the benches build many, and hold every pack whole.
 */
export function uploadWeights(ctx: CudaContext, plan: CudaPlan, reader: TensorReader & { heldBytes?(): number }, packs?: Map<string, Float32Array | Uint16Array>, stats?: LoadStats): Map<string, { ptr: bigint; bytes: number }> {
  const shapes = new Map<string, number[]>();
  for (const n of plan.graph.ofKind('param')) {
    if (n.shape.some((x) => typeof x !== 'number')) throw new Error(`param '${n.attrs.name}' has a symbolic shape`);
    shapes.set(n.attrs.name, n.shape as number[]);
  }
  const scratch = new PackScratch();
  const st = stats ?? { hostPeakBytes: 0, uploadedBytes: 0, largestPackBytes: 0 };
  const out = new Map<string, { ptr: bigint; bytes: number }>();
  for (const p of plan.packs) {
    const bytes = packBytes(p);
    st.largestPackBytes = Math.max(st.largestPackBytes, bytes);
    const ptr = ctx.alloc(bytes, `weight ${describePack(p)}`);
    out.set(p.key, { ptr, bytes });
    let whole = packs?.get(p.key);
    if (!whole) {
      const host = packs ? (p.dtype === 'bf16' ? new Uint16Array(bytes / 2) : new Float32Array(bytes / 4)) : null;
      streamPack(p, reader, (name) => shapes.get(name)!, (offset, data) => {
        if (host) host.set(data, offset / data.BYTES_PER_ELEMENT);
        else ctx.upload(ptr + BigInt(offset), data);
        st.hostPeakBytes = Math.max(st.hostPeakBytes, scratch.bytes + (reader.heldBytes?.() ?? 0) + (host?.byteLength ?? 0));
      }, scratch);
      if (host) packs!.set(p.key, (whole = host));
      else st.uploadedBytes += bytes;
    }
    if (whole) {
      ctx.upload(ptr, whole);
      st.uploadedBytes += bytes;
    }
  }
  return out;
}

const describePack = (p: PackSpec) => `${p.parts.map((x) => x.param ?? '(zeros)').join(' + ')} (${p.dtype}, ${formatBytes(packBytes(p))})`;

