import { gemmConfigLabel } from '../../codegen/cuda/tuning.ts';
import { readJsonObject } from '../../io/config.ts';
import { randomCheckpointFill } from '../../io/random.ts';
import { numel } from '../../util/math.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { CudaContext } from '../../runtime/cuda/context.ts';
import { resolveDevice } from '../../runtime/cuda/device.ts';
import { tuneCudaGemms } from '../../runtime/cuda/tuner.ts';
import { cudaTuningFile, saveCudaTuning } from '../../runtime/cuda/tuning-file.ts';
import { storedPrecision } from '../../runtime/model-source.ts';
import { choiceFlag, intFlag, UsageError } from '../args.ts';

type Flags = Record<string, string | boolean | undefined>;

/** `fastdllm tune --device cuda`: times the CUDA GEMM tile configs on this GPU and saves the fastest. */
export async function tuneCudaCommand(values: Flags): Promise<number> {
  const src = (values.model ?? values.config) as string | undefined;
  if (!src || (values.model && values.config)) throw new UsageError('give exactly one of --model DIR and --config FILE');
  if (values.tokens !== undefined) throw new UsageError('--tokens applies to the CPU; on the GPU use --rows and --cache-rows');
  const precisionFlag = choiceFlag(values.precision as string | undefined, '--precision', ['bf16', 'f32'] as const);
  const layers = intFlag(values.layers as string | undefined, '--layers', { min: 1 }) ?? 1;
  const cacheRows = intFlag(values['cache-rows'] as string | undefined, '--cache-rows', { min: 1 }) ?? 288;
  const rows = values.rows === undefined ? [32, cacheRows] : String(values.rows).split(',').map((t) => intFlag(t.trim(), '--rows', { min: 1 })!);
  const reps = intFlag(values.reps as string | undefined, '--reps', { min: 1 }) ?? 10;
  const space = choiceFlag(values.space as string | undefined, '--space', ['all', 'split'] as const) ?? 'all';
  for (const r of rows) if (r > cacheRows) throw new UsageError(`--rows ${r} exceeds --cache-rows ${cacheRows}`);
  resolveDevice('cuda'); // throws, with the reason, where there is no usable GPU
  // As a GPU load of the model runs: its checkpoint's precision (bf16 for a config alone); read
  // only once a GPU is there to tune.
  const precision = precisionFlag ?? (values.model ? storedPrecision(values.model as string) : 'bf16');
  const file = src.endsWith('.json') ? src : `${src}/config.json`;
  const hf = readJsonObject(file, 'config.json');
  // Every layer has the same GEMM shapes: time as few as asked.
  const layerKey = 'n_layers' in hf ? 'n_layers' : 'num_hidden_layers';
  const { graph, config } = graphFromConfig(file, { [layerKey]: layers });
  const ctx = CudaContext.open(0);
  // Random weights, not zeros or a constant: a GPU's clocks follow its power draw, which depends on the data (METHOD.md).
  const fill = randomCheckpointFill(0, graph.ofKind('param').map((n) => ({ name: n.attrs.name, init: { kind: 'uniform' as const, low: -0.02, high: 0.02 } })));
  const weights = (name: string, shape: number[]) => {
    const t = new Float32Array(numel(shape));
    fill(name, 0, t);
    return t;
  };
  const results = await tuneCudaGemms({ graph, config, weights }, { precision, rows, cacheRows, reps, space });
  const out = cudaTuningFile(ctx.info, precision);
  if (!values['dry-run']) saveCudaTuning(results, ctx.info, out);
  if (values.json) {
    process.stdout.write(JSON.stringify({ device: ctx.info.name, arch: ctx.info.arch, precision, file: values['dry-run'] ? null : out, results }) + '\n');
    return 0;
  }
  for (const r of results) {
    const ms = r.trials[0].ms;
    process.stdout.write(`gemm ${r.key}: best ${gemmConfigLabel(r.best)}, ${(ms * 1e3).toFixed(1)} us vs default ${(r.defaultMs * 1e3).toFixed(1)} us (${(r.defaultMs / ms).toFixed(2)}x)\n`);
    for (const t of r.trials) process.stdout.write(`    ${gemmConfigLabel(t.config).padEnd(18)} ${(t.ms * 1e3).toFixed(1).padStart(8)} us\n`);
  }
  process.stdout.write(values['dry-run'] ? 'dry run: nothing saved\n' : `saved to ${out}\n`);
  return 0;
}
