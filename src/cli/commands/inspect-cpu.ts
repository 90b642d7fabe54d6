import { join } from 'node:path';
import { env } from '../../env.ts';
import { printGraph } from '../../ir/printer.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { loadCpuTuning } from '../../runtime/cpu-tuning-file.ts';
import { findCxx } from '../../runtime/native/cpu-backend.ts';
import { cpuKernelIr, cpuKernelReports, cpuKernelSource, cpuPackKernels, functionAssembly } from '../../runtime/native/inspect.ts';
import { cpuModuleOf, cxxAssembly } from '../../runtime/native/module.ts';
import { choiceFlag, UsageError } from '../args.ts';
import { kernelByName } from './inspect-kernel.ts';

/** What `inspect --device cpu` was asked for (flags already checked by inspect.ts). */
export interface CpuInspectRequest {
  /** A config.json, or a model directory holding one. */
  path: string;
  hasWeight?: (name: string) => boolean;
  kernel?: string;
  emit?: 'ir' | 'cpp' | 'asm';
  json?: boolean;
}

/**
 * `fastdllm inspect --device cpu`: the C++ module a CPU load of the model compiles (same graph,
 * same GEMM tuning), as a table of its kernels, JSON, the whole module (`--emit cpp|ir|asm`
 * without --kernel: the file FASTDLLM_DUMP_DIR receives, the fused IR, its assembly), or one
 * kernel's C++, IR or assembly.
 */
export async function inspectCpu(req: CpuInspectRequest): Promise<number> {
  const { graph, config } = graphFromConfig(req.path, {}, req.hasWeight);
  const mod = cpuModuleOf(graph, loadCpuTuning());
  const rows = cpuKernelReports(graph, mod);
  const asm = async (): Promise<string> => {
    const cxx = findCxx();
    if (!cxx) throw new UsageError('--emit asm: no C++ compiler found (set CXX or install g++)');
    return cxxAssembly(mod.source, cxx);
  };
  const write = (s: string) => { process.stdout.write(s); return 0; };
  if (!req.kernel) {
    if (req.emit === 'cpp') return write(mod.source);
    if (req.emit === 'ir') return write(printGraph(graph));
    if (req.emit === 'asm') return write(await asm());
  } else {
    const k = kernelByName(rows, req.kernel);
    if (k.kind === 'host' && req.emit !== 'ir') throw new UsageError(`--emit ${req.emit ?? 'cpp'}: ${k.name} runs on the host (TypeScript), it has no C++`);
    switch (req.emit ?? 'cpp') {
      case 'ir': return write(cpuKernelIr(graph, k));
      case 'asm': return write(functionAssembly(await asm(), k.name));
      default: return write(cpuKernelSource(mod, k.name)!);
    }
  }
  if (req.json) {
    const kernels = rows.map(({ name, fuses, launches, nodes }) => ({ name, fuses, launches, nodes }));
    return write(JSON.stringify({ module: mod.name, kernels, packs: cpuPackKernels(mod) }) + '\n');
  }
  const launches = rows.reduce((s, r) => s + r.launches, 0);
  const where = env.overrideDir ? join(env.overrideDir, `${mod.name}.cpp`) : `$FASTDLLM_OVERRIDE_DIR/${mod.name}.cpp`;
  const head = `${config.architecture}: ${config.nLayers} layers, CPU module ${mod.name} (override file: ${where}); forward: ${launches} launches, ${rows.length} distinct kernels`;
  const lines = rows.map((r) => `${r.name}\n    fuses ${r.fuses.join(' + ')}; x${r.launches}${r.kind === 'host' ? ' (TypeScript, on the host)' : ''}`);
  const packs = cpuPackKernels(mod).map((p) => `${p.name} x${p.launches}`);
  return write(`${head}\n${lines.join('\n')}\n${packs.length ? `packing at load: ${packs.join(', ')}\n` : ''}`);
}

/** The CUDA-only flags of inspect: refused with --device cpu rather than silently ignored. */
const CUDA_ONLY = ['device-arch', 'precision', 'head', 'batch', 'window', 'cache', 'head-rows'] as const;

/** Checks inspect's flags for --device cpu and returns its --emit (cpp, ir or asm). */
export function cpuInspectEmit(values: Record<string, unknown>): CpuInspectRequest['emit'] {
  for (const f of CUDA_ONLY) if (values[f] !== undefined) throw new UsageError(`--${f} applies to --device cuda only (the CPU module has no grid, arch or precision)`);
  return choiceFlag(values.emit as string | undefined, '--emit', ['cpp', 'ir', 'asm'] as const);
}
