import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debugLog } from '../../env.ts';
import { KernelCache } from '../kernel-cache.ts';

const run = promisify(execFile);

/** What ptxas reports for one kernel (`-Xptxas -v`). */
export interface KernelResources {
  registers: number;
  /** Static shared memory, bytes. */
  sharedBytes: number;
  spillStores: number;
  spillLoads: number;
  stackFrame: number;
}

let nvccProbe: { path: string; version: string } | null | undefined;

/** Path of a CUDA tool: $CUDA_HOME/bin, /usr/local/cuda/bin, then PATH. */
export function findCudaTool(tool: string): string | null {
  const dirs = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean).map((d) => join(d!, 'bin'));
  for (const d of dirs) if (existsSync(join(d, tool))) return join(d, tool);
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** nvcc and its release line ("Cuda compilation tools, release 13.0, V13.0.88"), or null. */
export function findNvcc(): { path: string; version: string } | null {
  if (nvccProbe !== undefined) return nvccProbe;
  nvccProbe = null;
  const p = findCudaTool('nvcc');
  if (p) {
    try {
      const out = execFileSync(p, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      nvccProbe = { path: p, version: out.split('\n').find((l) => l.includes('release'))?.trim() ?? out.trim() };
    } catch {
      /* not runnable */
    }
  }
  return nvccProbe;
}

/**
 * nvcc's target flags for an arch name. sm_90a goes through -gencode (with -arch=sm_90a some
 * nvcc versions also run a plain sm_90 pass, see the device notes).
 */
export function nvccArchFlags(arch: string): string[] {
  if (!/^sm_\d+[a-z]?$/.test(arch)) throw new Error(`--device-arch: '${arch}' is not an arch like sm_80 or sm_90a`);
  const cc = arch.slice(3);
  return [`-gencode=arch=compute_${cc},code=sm_${cc}`];
}

/** Options every nvcc compile of generated code uses; part of the cache key. */
export const NVCC_OPTIONS = ['-std=c++17', '-Xptxas', '-v'];

/** Parses `ptxas -v` output into per-kernel resources. */
export function parsePtxasInfo(log: string): Map<string, KernelResources> {
  const out = new Map<string, KernelResources>();
  let cur: KernelResources | null = null;
  for (const line of log.split('\n')) {
    let m = /Compiling entry function '([^']+)'/.exec(line);
    if (m) {
      cur = { registers: 0, sharedBytes: 0, spillStores: 0, spillLoads: 0, stackFrame: 0 };
      out.set(m[1], cur);
      continue;
    }
    m = /Function properties for (\S+)/.exec(line);
    if (m) {
      cur = out.get(m[1]) ?? null; // device functions also get properties; only entries are kept
      continue;
    }
    if (!cur) continue;
    m = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (m) {
      cur.stackFrame = +m[1];
      cur.spillStores = +m[2];
      cur.spillLoads = +m[3];
    }
    m = /Used (\d+) registers/.exec(line);
    if (m) cur.registers = +m[1];
    m = /(\d+) bytes smem/.exec(line);
    if (m) cur.sharedBytes = +m[1];
  }
  return out;
}

/** A cubin compiled by nvcc and what ptxas reported for each of its kernels. */
export interface NvccResult {
  cubinPath: string;
  resources: Map<string, KernelResources>;
  log: string;
  cached: boolean;
}

/**
 * Compiles a CUDA source to a cubin for `arch` with nvcc (when NVRTC is absent, and for the CI
 * checks), through the kernel cache: the ptxas report is kept beside the cubin, so a cache hit
 * still knows registers and spills.
 */
export async function nvccCubin(name: string, source: string, arch: string, cache = new KernelCache()): Promise<NvccResult> {
  const nvcc = findNvcc();
  if (!nvcc) throw new Error('nvcc not found (set CUDA_HOME or put nvcc on PATH)');
  const options = [...NVCC_OPTIONS, ...nvccArchFlags(arch)];
  const entry = await cache.get(name, { source, compiler: `nvcc ${nvcc.version}`, options, arch }, { sourceFile: 'kernel.cu', binaryFile: 'kernel.cubin' }, async (tmp) => {
    try {
      const { stderr, stdout } = await run(nvcc.path, ['-cubin', ...options, '-o', join(tmp, 'kernel.cubin'), join(tmp, 'kernel.cu')], { maxBuffer: 64 << 20 });
      writeFileSync(join(tmp, 'ptxas.txt'), stdout + stderr);
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`nvcc compile of ${name} for ${arch} failed:\n${(err.stderr ?? err.message).slice(0, 6000)}`);
    }
  });
  const log = existsSync(join(entry.dir, 'ptxas.txt')) ? readFileSync(join(entry.dir, 'ptxas.txt'), 'utf8') : '';
  debugLog(1, `nvcc ${name} (${arch}): ${entry.hit ? 'cache hit' : 'compiled'} ${entry.binaryPath}`);
  return { cubinPath: entry.binaryPath, resources: parsePtxasInfo(log), log, cached: entry.hit };
}

/** PTX of a source for `arch` (nvcc -ptx). */
export async function nvccPtx(source: string, arch: string, tmpDir: string): Promise<string> {
  const nvcc = findNvcc();
  if (!nvcc) throw new Error('nvcc not found (set CUDA_HOME or put nvcc on PATH)');
  const cu = join(tmpDir, 'kernel.cu'), ptx = join(tmpDir, 'kernel.ptx');
  writeFileSync(cu, source);
  const cc = arch.slice(3);
  await run(nvcc.path, ['-ptx', '-std=c++17', `-arch=compute_${cc}`, '-o', ptx, cu], { maxBuffer: 64 << 20 });
  return readFileSync(ptx, 'utf8');
}

/** SASS of a cubin (cuobjdump -sass), optionally of one function. */
export async function cuobjdumpSass(cubinPath: string, fn?: string): Promise<string> {
  const tool = findCudaTool('cuobjdump');
  if (!tool) throw new Error('cuobjdump not found (it ships with the CUDA toolkit; set CUDA_HOME)');
  const { stdout } = await run(tool, ['-sass', ...(fn ? ['-fun', fn] : []), cubinPath], { maxBuffer: 256 << 20 });
  return stdout;
}

/** PTX of a source for `arch` through nvcc, in a temporary folder removed afterwards. */
export async function nvccPtxText(source: string, arch: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fastdllm-ptx-'));
  try {
    return await nvccPtx(source, arch, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
