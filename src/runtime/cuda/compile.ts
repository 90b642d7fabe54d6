import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, debugLog } from '../../env.ts';
import { checkNvrtc, loadNvrtc, type NvrtcLib } from '../ffi/nvrtc.ts';
import { KernelCache } from '../kernel-cache.ts';
import { effectiveSource } from '../kernel-source.ts';
import { nvccCubin, nvccPtxText, parsePtxasInfo, type KernelResources } from './nvcc.ts';

/** NVRTC options of generated modules (the arch is added per device); part of the cache key. */
export const NVRTC_OPTIONS = ['--std=c++17'];

/** A compile error of generated (or overridden) CUDA source: the compiler's log and where the source is. */
export class CudaCompileError extends Error {
  constructor(readonly module: string, readonly log: string, readonly sourcePath: string) {
    super(`CUDA compile of ${module} failed (source: ${sourcePath}):\n${log.slice(0, 8000)}`);
  }
}

/** A compiled module image (cubin, or PTX the driver will JIT when NVRTC cannot target the device). */
export interface CompiledModule {
  name: string;
  image: Uint8Array;
  kind: 'cubin' | 'ptx';
  compiler: string;
  arch: string;
  cacheHit: boolean;
  /** ptxas's report when nvcc compiled it (NVRTC gives none; read function attributes instead). */
  resources?: Map<string, KernelResources>;
}

/** Where a failing source can be read: the dump/override path, else a copy under the cache. */
function failedSourcePath(cache: KernelCache, name: string, source: string, known: string | null): string {
  if (known) return known;
  const dir = join(cache.root, 'failed');
  mkdirSync(dir, { recursive: true });
  const p = join(dir, `${name}.cu`);
  writeFileSync(p, source);
  return p;
}

/**
 * Compiles one module for a device of compute capability `cc` (e.g. 90): NVRTC to a cubin for
 * the device's own arch (PTX for the newest arch NVRTC knows when it does not know the device's),
 * cached on disk by source, NVRTC version, options and arch; same-key compiles in one process
 * share one build. Without NVRTC, nvcc builds the cubin. Compile errors carry the log and the
 * source's path.
 */
export async function compileModule(name: string, generated: string, cc: number, cache = new KernelCache()): Promise<CompiledModule> {
  // One dump / override path for both targets (FASTDLLM_DUMP_DIR / FASTDLLM_OVERRIDE_DIR, file <name>.cu).
  const { source, path } = effectiveSource(`${name}.cu`, generated);
  let nvrtc: NvrtcLib | null = null;
  try {
    nvrtc = loadNvrtc();
  } catch (e) {
    debugLog(1, `NVRTC unavailable (${(e as Error).message.split('\n')[0]}); compiling ${name} with nvcc`);
  }
  if (!nvrtc) {
    try {
      const r = await nvccCubin(name, source, `sm_${cc}`, cache);
      if (env.debug >= 5) debugLog(5, `cuda module ${name} PTX (compute_${cc}):\n${await nvccPtxText(source, `sm_${cc}`)}`);
      return { name, image: readFileSync(r.cubinPath), kind: 'cubin', compiler: 'nvcc', arch: `sm_${cc}`, cacheHit: r.cached, resources: r.resources };
    } catch (e) {
      throw new CudaCompileError(name, (e as Error).message, failedSourcePath(cache, name, source, path));
    }
  }
  const ptxOnly = nvrtc.archs.length > 0 && !nvrtc.archs.includes(cc);
  const target = ptxOnly ? Math.max(...nvrtc.archs) : cc;
  const arch = ptxOnly ? `compute_${target}` : `sm_${target}`;
  if (ptxOnly) debugLog(1, `NVRTC ${nvrtc.version} cannot target sm_${cc}; emitting PTX for ${arch} (the driver JIT-compiles it)`);
  const options = [...NVRTC_OPTIONS, `--gpu-architecture=${arch}`];
  const file = ptxOnly ? 'kernel.ptx' : 'kernel.cubin';
  const lib = nvrtc;
  const entry = await cache.get(name, { source, compiler: `nvrtc ${lib.version}`, options, arch }, { sourceFile: 'kernel.cu', binaryFile: file }, async (tmp) => {
    const r = await nvrtcCompile(lib, name, source, options, !ptxOnly);
    if (!r.ok) throw new CudaCompileError(name, r.log, failedSourcePath(cache, name, source, path));
    writeFileSync(join(tmp, file), r.image!);
    if (r.log.trim()) writeFileSync(join(tmp, 'nvrtc.log'), r.log);
  });
  if (env.debug >= 5) debugLog(5, `cuda module ${name} PTX (compute_${target}):\n${await nvrtcPtx(name, source, target).catch((e: Error) => `(PTX compile failed: ${e.message})`)}`);
  const image = readFileSync(entry.binaryPath);
  // The driver wants PTX NUL-terminated.
  const img = ptxOnly ? Buffer.concat([image, Buffer.from([0])]) : image;
  return { name, image: new Uint8Array(img), kind: ptxOnly ? 'ptx' : 'cubin', compiler: `nvrtc ${lib.version}`, arch, cacheHit: entry.hit };
}

/** One NVRTC compile, run on a worker thread (koffi async) so that modules compile in parallel. */
export async function nvrtcCompile(lib: NvrtcLib, name: string, source: string, options: string[], cubin: boolean): Promise<{ ok: boolean; log: string; image?: Uint8Array }> {
  const f = lib.fns;
  const prog: (bigint | null)[] = [null];
  checkNvrtc(f, 'nvrtcCreateProgram', f.nvrtcCreateProgram(prog, source, `${name}.cu`, 0, null, null));
  try {
    const rc = await new Promise<number>((resolve, reject) => {
      f.nvrtcCompileProgram.async!(prog[0], options.length, options, (err: unknown, r: number) => (err ? reject(err) : resolve(r)));
    });
    const n = [0];
    checkNvrtc(f, 'nvrtcGetProgramLogSize', f.nvrtcGetProgramLogSize(prog[0], n));
    const logBuf = new Uint8Array(Math.max(1, Number(n[0])));
    checkNvrtc(f, 'nvrtcGetProgramLog', f.nvrtcGetProgramLog(prog[0], logBuf));
    const log = new TextDecoder().decode(logBuf.subarray(0, Math.max(0, logBuf.indexOf(0) < 0 ? logBuf.length : logBuf.indexOf(0))));
    if (rc !== 0) return { ok: false, log: log || `nvrtcCompileProgram returned ${rc}` };
    const size = [0];
    if (cubin) {
      checkNvrtc(f, 'nvrtcGetCUBINSize', f.nvrtcGetCUBINSize(prog[0], size));
      const img = new Uint8Array(Number(size[0]));
      checkNvrtc(f, 'nvrtcGetCUBIN', f.nvrtcGetCUBIN(prog[0], img));
      return { ok: true, log, image: img };
    }
    checkNvrtc(f, 'nvrtcGetPTXSize', f.nvrtcGetPTXSize(prog[0], size));
    const img = new Uint8Array(Number(size[0]));
    checkNvrtc(f, 'nvrtcGetPTX', f.nvrtcGetPTX(prog[0], img));
    const end = img.indexOf(0);
    return { ok: true, log, image: end >= 0 ? img.subarray(0, end) : img };
  } finally {
    f.nvrtcDestroyProgram(prog);
  }
}

/** PTX of a source for compute capability `cc` through NVRTC (inspect --emit ptx on a GPU machine). */
export async function nvrtcPtx(name: string, source: string, cc: number): Promise<string> {
  const lib = loadNvrtc();
  const r = await nvrtcCompile(lib, name, source, [...NVRTC_OPTIONS, `--gpu-architecture=compute_${cc}`], false);
  if (!r.ok) throw new CudaCompileError(name, r.log, '(inspect)');
  return new TextDecoder().decode(r.image);
}

export { parsePtxasInfo };
