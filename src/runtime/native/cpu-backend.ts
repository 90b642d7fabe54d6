import { execFileSync, execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import koffi, { type LibraryHandle } from 'koffi';
import type { ArgSource, CpuKernelSpec } from '../../codegen/cpu/render.ts';
import type { Graph, Node } from '../../ir/graph.ts';
import { numel } from '../../util/math.ts';
import { env, debugLog } from '../../env.ts';
import { KernelCache } from '../kernel-cache.ts';
import { effectiveSource } from '../kernel-source.ts';
import { CPU_CXX_OPTIONS, cpuModuleName, cpuModuleOf, cxxAssembly } from './module.ts';
import type { Buf } from '../buffers.ts';
import type { HostBackend, NodeKernel } from '../kernel.ts';
import { hostOpKernel } from '../reference/backend.ts';
import { operandCheck } from '../../ir/ops.ts';
import { loadCpuTuning } from '../cpu-tuning-file.ts';
import type { CpuTuning } from '../../codegen/cpu/tuning.ts';

const run = promisify(execFile);

let cxxProbe: { path: string; version: string } | null | undefined;

/** The C++ compiler (CXX, else g++ / c++ / clang++ on PATH) and its version line, or null. */
export function findCxx(): { path: string; version: string } | null {
  if (cxxProbe !== undefined) return cxxProbe;
  cxxProbe = null;
  for (const c of [env.cxx, 'g++', 'c++', 'clang++'].filter(Boolean) as string[]) {
    try {
      const version = execFileSync(c, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
      cxxProbe = { path: c, version };
      break;
    } catch {
      // A compiler the user named that does not run is worth a word: falling back silently would
      // build with a compiler they did not choose.
      if (c === env.cxx) process.stderr.write(`fastdllm: CXX=${c} does not run (\`${c} --version\` failed); looking for g++, c++ or clang++ instead\n`);
    }
  }
  return cxxProbe;
}

const loadedLibs = new Map<string, LibraryHandle>();

/**
 * Compiles (or finds in the cache) a CPU module and returns its loaded library. The source goes
 * through the shared dump / override path (FASTDLLM_DUMP_DIR / FASTDLLM_OVERRIDE_DIR, file
 * `<cpu_hash>.cpp`, named after the generated text); FASTDLLM_DEBUG=1 reports the compile or
 * cache hit, 5 prints the module's assembly. `name`: the module's name when the caller has it
 * already (cpuModuleOf hashes the source for it), else hashed here.
 */
export async function compileCpuModule(generated: string, cxx: { path: string; version: string }, cache = new KernelCache(), name = cpuModuleName(generated)): Promise<{ lib: LibraryHandle; path: string }> {
  const { source } = effectiveSource(`${name}.cpp`, generated);
  const entry = await cache.get(name, { source, compiler: cxx.version, options: CPU_CXX_OPTIONS, arch: `host-${process.arch}` },
    { sourceFile: 'kernel.cpp', binaryFile: 'kernel.so' },
    async (tmp) => {
      try {
        await run(cxx.path, [...CPU_CXX_OPTIONS, '-o', join(tmp, 'kernel.so'), join(tmp, 'kernel.cpp')], { maxBuffer: 16 << 20 });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`C++ compile of ${name} failed (${cxx.path}):\n${(err.stderr ?? err.message).slice(0, 4000)}`);
      }
    });
  debugLog(1, `cpu module ${name}: ${entry.hit ? 'cache hit' : 'compiled'} ${entry.binaryPath}`);
  if (env.debug >= 5) debugLog(5, `cpu module ${name} assembly (${cxx.path} -S):\n${await cxxAssembly(source, cxx).catch((e: Error) => `(assembly failed: ${e.message})`)}`);
  let lib = loadedLibs.get(entry.binaryPath);
  if (!lib) {
    lib = koffi.load(entry.binaryPath);
    loadedLibs.set(entry.binaryPath, lib);
  }
  return { lib, path: entry.binaryPath };
}

function argValue(a: ArgSource, ins: Buf[], shapes: number[][], out: Buf, outShape: number[]): Buf | number {
  switch (a.kind) {
    case 'in': return ins[a.index];
    case 'out': return out;
    case 'dim': return shapes[a.index][a.axis];
    case 'rows': return numel(shapes[a.index].slice(0, -1));
    case 'scalar': return ins[a.index][0];
    case 'numel': return numel(outShape);
    case 'numelIn': return numel(shapes[a.index]);
  }
}

/** Sets this thread's OpenMP thread count; a hand-edited override module may lack the entry point (then the process-wide count holds). */
function setKernelThreads(lib: LibraryHandle, n: number): void {
  let f;
  try { f = lib.func('fd_set_threads', 'void', ['int']); } catch { debugLog(1, 'native backend: the module has no fd_set_threads; OMP_NUM_THREADS holds'); return; }
  f(n);
}

function bindKernel(lib: LibraryHandle, node: Node, spec: CpuKernelSpec): NodeKernel {
  const f = lib.func(spec.name, 'void', spec.params);
  const check = operandCheck(node.op); // looked up once per kernel, not per call
  return (ins, shapes, out, outShape) => {
    check?.({ data: (i) => ins[i], shape: (i) => shapes[i] }, {});
    f(...spec.args.map((a) => argValue(a, ins, shapes, out, outShape)));
  };
}

/**
 * Generated C++ kernels, compiled with the machine's compiler, cached on disk, called through koffi.
 * GEMM configs come from `tuning`, else from this machine's `fastdllm tune` file, else defaults.
 */
export function nativeCpuBackend(cxx: { path: string; version: string }, cache?: KernelCache, tuning?: CpuTuning): HostBackend {
  // libgomp reads these once at load: sleep rather than spin between kernels, and honour FASTDLLM_THREADS.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  process.env.OMP_NUM_THREADS = String(env.threads);
  return {
    name: 'native',
    async prepare(graph: Graph) {
      const { name, source, kernels, packs } = cpuModuleOf(graph, tuning ?? loadCpuTuning());
      const { lib } = await compileCpuModule(source, cxx, cache, name);
      // Per calling thread (see fd_set_threads): a pool worker's env says its share of the cores.
      setKernelThreads(lib, env.threads);
      const bound = new Map<number, NodeKernel>();
      for (const [id, spec] of kernels) bound.set(id, bindKernel(lib, graph.node(id), spec));
      const packFns = new Map([...packs].map(([id, p]) => [id, { fn: lib.func(p.name, 'void', ['const float *', 'float *']), length: p.length }]));
      return {
        kernelFor(node: Node) {
          const k = bound.get(node.id) ?? hostOpKernel(node);
          if (!k) throw new Error(`native backend: no kernel for op '${node.op}'`);
          return k;
        },
        transformParam(node: Node, data: Float32Array) {
          const p = packFns.get(node.id);
          if (!p) return data;
          const packed = new Float32Array(p.length);
          p.fn(data, packed);
          return packed;
        },
      };
    },
  };
}
