import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { moduleSource } from '../../codegen/cuda/module.ts';
import { planCuda } from '../../codegen/cuda/plan.ts';
import type { CudaPrecision, HeadOutputs } from '../../codegen/cuda/types.ts';
import { Checkpoint, hasCheckpoint } from '../../io/checkpoint.ts';
import { graphFromConfig, readModelConfig } from '../../runtime/config-graph.ts';
import { storedPrecision } from '../../runtime/model-source.ts';
import { probeCudaSync } from '../../runtime/cuda/device.ts';
import { DECODE_STEP_DIMS, decodeStepKernels, inspectPlan, kernelIr, kernelPtx, kernelResources, kernelSass } from '../../runtime/cuda/inspect.ts';
import { choiceFlag, intFlag, parseFlags, UsageError } from '../args.ts';
import { cpuInspectEmit, inspectCpu } from './inspect-cpu.ts';
import { kernelByName } from './inspect-kernel.ts';
import { inspectPerf } from './inspect-perf.ts';
import { GPU_NAMES, PERF_STEP_SHAPE } from '../../codegen/cuda/perf-model.ts';
import { buildLladaSelectGraph } from '../../decode/select-graph.ts';
import { describeRule, factorRule, thresholdRule, topkRule } from '../../ir/select-rule.ts';
import { printGraph } from '../../ir/printer.ts';

const HELP = `usage: fastdllm inspect (--model DIR | --config FILE) [--device-arch sm_90a] [--precision f32|bf16]
                        [--head both|x0conf|logits] [--batch N --window N --cache N --head-rows N]
                        [--kernel NAME --emit ir|cu|ptx|sass|resources] [--json]
       fastdllm inspect --device cpu (--model DIR | --config FILE) [--kernel NAME] [--emit cpp|ir|asm] [--json]
       fastdllm inspect (--model DIR | --config FILE) --perf --gpu h100|h200|a100 [--batch N] [--window N]
                        [--cache-len N] [--precision f32|bf16] [--head both|x0conf|logits] [--json]
Lists every CUDA kernel a decode step of the model launches (name, the IR ops it fuses, grid and
block at a typical step: batch 1, window 32, cache 256, 32 head rows; registers, shared memory,
spills), or prints one kernel's fused IR, CUDA source, PTX, SASS or resources. Needs no GPU:
without NVRTC the kernels are compiled with nvcc. --device-arch defaults to the GPU's, else sm_90a;
--precision to what a GPU load picks: the checkpoint's dtype (--model), else bf16 (--config).
--head both (default) is how a GPU model loads for decoding: the LM head also computes x0 and
confidence, and LLaDA's greedy steps add decode_window and select_scatter around the forward.
--device cpu lists the C++ kernels of the CPU module a load compiles (name, what each fuses,
launches per forward); --kernel NAME prints one (--emit cpp, the default, ir or asm); --emit
without --kernel prints the whole module's C++ (the file FASTDLLM_DUMP_DIR receives, and the
name an FASTDLLM_OVERRIDE_DIR file must have), its fused IR, or its assembly (g++ -S).
--perf predicts, without a GPU or a compiler, a decode step planned for that GPU (default: the
dual-cache step of batch 1, window 32, cache 768 = a 512-token prompt plus 256 generated): each
kernel's bytes moved (from its tile plan), FLOPs, CTAs, waves and roofline time, and the step's
bytes beside its minimum (every weight and the KV cache once) and its floor; data-sheet peaks
(codegen/cuda/perf-model.ts), which a GPU run's prediction-vs-measurement table calibrates.
`;

/** `fastdllm inspect`: the generated kernels of a model, as a table, JSON, or one kernel's artifacts. */
export async function inspectCommand(argv: string[]): Promise<number> {
  // --model's checkpoint is opened once, when first needed: the default precision (its dtypes)
  // and the graph's optional weights (its names) both read it; closed whatever happens.
  let ckpt: Checkpoint | undefined;
  try {
    return await inspectModel(argv, (dir) => (ckpt ??= Checkpoint.open(dir)));
  } finally {
    ckpt?.close();
  }
}

/** inspectCommand's work; `checkpoint` opens --model's checkpoint the first time, the same one after. */
async function inspectModel(argv: string[], checkpoint: (dir: string) => Checkpoint): Promise<number> {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, config: { type: 'string' }, 'device-arch': { type: 'string' }, precision: { type: 'string' },
    head: { type: 'string' }, batch: { type: 'string' }, window: { type: 'string' }, cache: { type: 'string' }, 'head-rows': { type: 'string' },
    kernel: { type: 'string' }, emit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    device: { type: 'string' }, perf: { type: 'boolean' }, gpu: { type: 'string' }, 'cache-len': { type: 'string' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  if (!values.model === !values.config) throw new UsageError('give exactly one of --model DIR and --config FILE');
  const device = choiceFlag(values.device, '--device', ['cuda', 'cpu'] as const) ?? 'cuda';
  const cpuEmit = device === 'cpu' ? cpuInspectEmit(values) : undefined;
  if (values.emit && !values.kernel && device === 'cuda') throw new UsageError('--emit needs --kernel NAME');
  const emit = device === 'cuda' ? choiceFlag(values.emit, '--emit', ['ir', 'cu', 'ptx', 'sass', 'resources'] as const) : undefined;
  // As a GPU load picks it: the checkpoint's dtype (--model with weights), else bf16.
  const precision: CudaPrecision = choiceFlag(values.precision, '--precision', ['f32', 'bf16'] as const) ?? (values.model && device === 'cuda' ? storedPrecision(values.model, () => checkpoint(values.model!)) : 'bf16'); // the CPU listing has no precision
  const headOutputs: HeadOutputs = choiceFlag(values.head, '--head', ['logits', 'x0conf', 'both'] as const) ?? 'both';
  if (values.gpu !== undefined && !values.perf) throw new UsageError('--gpu goes with --perf');
  if (values.perf) {
    if (device !== 'cuda' || values.kernel || values.emit) throw new UsageError('--perf prices the CUDA decode step: no --device cpu, --kernel or --emit');
    const gpu = choiceFlag(values.gpu, '--gpu', GPU_NAMES);
    if (!gpu) throw new UsageError('--perf needs --gpu h100|h200|a100');
    const shape = {
      batch: intFlag(values.batch, '--batch', { min: 1 }) ?? PERF_STEP_SHAPE.batch,
      window: intFlag(values.window, '--window', { min: 1 }) ?? PERF_STEP_SHAPE.window,
      cacheLen: intFlag(values['cache-len'], '--cache-len', { min: 1 }) ?? intFlag(values.cache, '--cache', { min: 1 }) ?? PERF_STEP_SHAPE.cacheLen,
    };
    const path = values.model ?? values.config!;
    if (!existsSync(values.config ? path : join(path, 'config.json'))) throw new UsageError(`${values.config ? '--config' : '--model'}: ${path} has no config`);
    return inspectPerf({ path, gpu, precision, headOutputs, shape, json: values.json });
  }
  let arch = values['device-arch'];
  if (arch !== undefined && !/^sm_\d{2,3}[a-z]?$/.test(arch)) throw new UsageError(`--device-arch: expected an arch like sm_80 or sm_90a, got ${JSON.stringify(arch)}`);
  // Only the CUDA listing needs an arch: --device cpu never touches the driver.
  if (!arch && device === 'cuda') {
    const p = probeCudaSync();
    arch = p.ok && p.gpu ? p.gpu.split(' ').pop()! : 'sm_90a';
  }
  arch ??= 'sm_90a';
  const dims = {
    B: intFlag(values.batch, '--batch', { min: 1 }) ?? DECODE_STEP_DIMS.B,
    T: intFlag(values.window, '--window', { min: 1 }) ?? DECODE_STEP_DIMS.T,
    K: intFlag(values.cache, '--cache', { min: 1 }) ?? DECODE_STEP_DIMS.K,
    Kmax: intFlag(values.cache, '--cache', { min: 1 }) ?? DECODE_STEP_DIMS.Kmax,
    R: intFlag(values['head-rows'], '--head-rows', { min: 1 }) ?? DECODE_STEP_DIMS.R,
  };

  let hasWeight: ((n: string) => boolean) | undefined;
  const path = values.model ?? values.config!;
  if (values.model) {
    if (!existsSync(join(values.model, 'config.json'))) throw new UsageError(`--model: no config.json in ${values.model}`);
    if (hasCheckpoint(values.model)) {
      const ckpt = checkpoint(values.model);
      hasWeight = (n) => ckpt.has(n);
    }
  } else if (!existsSync(path)) {
    throw new UsageError(`--config: ${path} does not exist`);
  }
  if (device === 'cpu') return await inspectCpu({ path, hasWeight, kernel: values.kernel, emit: cpuEmit, json: values.json });
  const { graph, config } = graphFromConfig(path, {}, hasWeight);
  const plan = planCuda(graph, { precision, headOutputs });
  // LLaDA's greedy steps select on the device; Dream's algs select from logits on the host.
  const deviceStep = !config.logitShift;
  if (values.kernel) {
    const k = kernelByName(decodeStepKernels(plan, deviceStep), values.kernel);
    if (k.family === 'host' && emit !== 'ir') throw new UsageError(`--emit ${emit}: ${k.name} runs on the host`);
    let out: string;
    switch (emit ?? 'resources') {
      case 'ir': out = k.nodes.length ? kernelIr(plan, k) : stepKernelIr(k.family, config.vocabSize); break;
      case 'cu': out = moduleSource(k); break;
      case 'ptx': out = await kernelPtx(k, arch); break;
      case 'sass': out = await kernelSass(k, arch); break;
      default: {
        const r = (await kernelResources(plan, arch)).get(k.name);
        const rep = { name: k.name, arch, fuses: k.fuses, config: k.config, registers: r?.registers, sharedBytes: r?.sharedBytes, spillStores: r?.spillStores, spillLoads: r?.spillLoads, stackFrame: r?.stackFrame };
        out = values.json ? JSON.stringify(rep) + '\n' : Object.entries(rep).map(([a, b]) => `${a.padEnd(12)} ${typeof b === 'object' ? JSON.stringify(b) : b}`).join('\n') + '\n';
      }
    }
    process.stdout.write(out);
    return 0;
  }
  const rows = await inspectPlan(plan, arch, dims, deviceStep);
  if (values.json) {
    const kernels = rows.map(({ name, fuses, grid, block, registers, sharedBytes, spillStores, spillLoads }) => ({ name, fuses, grid, block, registers, sharedBytes, spillStores, spillLoads }));
    process.stdout.write(JSON.stringify({ kernels }) + '\n');
    return 0;
  }
  const head = `${config.architecture}: ${config.nLayers} layers, ${precision}, ${arch}; decode step at batch ${dims.B}, window ${dims.T}, cache ${dims.Kmax}, ${dims.R} head rows: ${decodeStepKernels(plan, deviceStep).length} launches, ${rows.length} distinct kernels`;
  const lines = rows.map((r) => `${r.name}\n    fuses ${r.fuses.join(' + ')}; x${r.launches}; grid [${r.grid}] block [${r.block}]; ${r.registers} registers, ${r.sharedBytes} B shared, spills ${r.spillStores}/${r.spillLoads} B`);
  process.stdout.write(`${head}\n${lines.join('\n')}\n`);
  return 0;
}

/** The IR a decode-step kernel runs (it is not part of the forward graph). */
function stepKernelIr(family: string, vocab: number): string {
  if (family !== 'select_scatter') return `# ${family}: copies the forward's window of token ids out of the device canvas (no IR op)\n`;
  const rules = [topkRule(), thresholdRule(0.9, 'f64'), factorRule(1)];
  return rules.map((rule) => `# select_scatter runs the greedy selection step by the decode options' rule; ${describeRule(rule)}:\n`
    + printGraph(buildLladaSelectGraph(rule, vocab, 'decisions'))).join('\n');
}
