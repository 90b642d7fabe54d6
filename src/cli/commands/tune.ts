import { findCxx } from '../../runtime/native/cpu-backend.ts';
import { gemmShapes, tuneGemms } from '../../runtime/tuner.ts';
import { cpuTuningFile, saveCpuTuning } from '../../runtime/cpu-tuning-file.ts';
import { choiceFlag, intFlag, parseFlags, UsageError } from '../args.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { tuneCudaCommand } from './tune-cuda.ts';

const HELP = `usage: fastdllm tune (--model DIR | --config FILE) [--tokens 256,32] [--reps 15] [--json] [--dry-run]
       fastdllm tune --device cuda (--model DIR | --config FILE) [--precision bf16|f32] [--layers 1]
                     [--rows 32,288] [--cache-rows 288] [--reps 10] [--space all|split] [--json] [--dry-run]
Autotunes the CPU GEMM kernels of a model's forward: times every config of the tuning space
(k-block x row tile) for each weight shape at the given window sizes, keeps the fastest, and
saves it for this machine (${cpuTuningFile()}). Generated kernels use it from then on. A config
never changes results, only speed. --dry-run times without saving.
--device cuda tunes the generated CUDA GEMMs instead, on the GPU: every tile config (rows x
k-tile x pipeline stages x split-K) on a decode's forwards (--rows: the window sizes, a cached
step's and a refresh's by default, over --cache-rows cache rows; --layers layers of the model,
random weights: only shapes matter), timed per launch with CUDA events and summed over the
windows; the fastest per GEMM shape is saved for this GPU and precision, and loading a model on
that GPU uses it. --precision defaults to the model's (its checkpoint's; bf16 for --config).
--space split times only the default tiles and the split-K configs.
`;

export async function tuneCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, config: { type: 'string' }, tokens: { type: 'string' }, reps: { type: 'string' },
    json: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    device: { type: 'string' }, precision: { type: 'string' }, layers: { type: 'string' }, rows: { type: 'string' }, 'cache-rows': { type: 'string' }, space: { type: 'string' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  const device = choiceFlag(values.device, '--device', ['cpu', 'cuda'] as const) ?? 'cpu';
  if (device === 'cuda') return tuneCudaCommand(values);
  for (const f of ['precision', 'layers', 'rows', 'cache-rows', 'space'] as const) if (values[f] !== undefined) throw new UsageError(`--${f} applies to --device cuda only`);
  const src = values.model ?? values.config;
  if (!src) throw new UsageError('--model DIR or --config FILE is required');
  const tokens = (values.tokens ?? '256,32').split(',').map((t) => intFlag(t.trim(), '--tokens', { min: 1 })!);
  const reps = intFlag(values.reps, '--reps', { min: 1 }) ?? 15;
  const cxx = findCxx();
  if (!cxx) throw new Error('tune: no C++ compiler found (set CXX or install g++)');
  const { graph } = graphFromConfig(src);
  const results = await tuneGemms(gemmShapes(graph), { tokens, reps, cxx });
  if (!values['dry-run']) saveCpuTuning(results);
  if (values.json) {
    process.stdout.write(JSON.stringify({ file: values['dry-run'] ? null : cpuTuningFile(), results }) + '\n');
    return 0;
  }
  for (const r of results) {
    process.stdout.write(`gemm ${r.key} (tokens ${r.tokens.join('+')}): best kb ${r.best.kb} mr ${r.best.mr}, ${r.trials[0].ms.toFixed(3)} ms vs default ${r.defaultMs.toFixed(3)} ms (${(r.defaultMs / r.trials[0].ms).toFixed(2)}x)\n`);
    for (const t of r.trials) process.stdout.write(`    kb ${String(t.config.kb).padStart(4)} mr ${t.config.mr}  ${t.ms.toFixed(3).padStart(9)} ms  ${t.gflops.toFixed(1).padStart(6)} GFLOP/s\n`);
  }
  process.stdout.write(values['dry-run'] ? 'dry run: nothing saved\n' : `saved to ${cpuTuningFile()}\n`);
  return 0;
}
