import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomCheckpointFill, type TensorInit } from '../../io/random.ts';
import { writeCheckpoint } from '../../io/safetensors-writer.ts';
import { choiceFlag, intFlag, parseFlags, UsageError } from '../args.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { numel } from '../../util/math.ts';
import { formatBytes } from '../../util/format.ts';

const HELP = `usage: fastdllm random-checkpoint --config FILE --out DIR [--dtype f32|bf16] [--seed S] [--shard-bytes N]
Writes config.json and random weights (normal(0, 0.02), norms 1) for any model config,
streamed to disk chunk by chunk, so a 16 GB checkpoint needs little memory.
`;

/** Norm weights start at one (a random norm scale would be no model at all). */
export function defaultInit(name: string, shape: readonly number[]): TensorInit {
  return shape.length === 1 && /norm|ln_f/.test(name) ? { kind: 'ones' } : { kind: 'normal', std: 0.02 };
}

export async function randomCheckpointCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    config: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, seed: { type: 'string' }, 'shard-bytes': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  if (!values.config) throw new UsageError('--config FILE is required');
  if (!values.out) throw new UsageError('--out DIR is required');
  const dtype = choiceFlag(values.dtype ?? 'f32', '--dtype', ['f32', 'bf16'] as const)!;
  const seed = intFlag(values.seed, '--seed') ?? 0;
  const spec = graphFromConfig(values.config);
  const specs = spec.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: dtype === 'bf16' ? ('BF16' as const) : ('F32' as const), init: spec.definition.init?.(w.name, w.shape) ?? defaultInit(w.name, w.shape) }));
  mkdirSync(values.out, { recursive: true });
  const t0 = performance.now();
  const files = writeCheckpoint(values.out, specs, randomCheckpointFill(seed, specs), { maxShardBytes: intFlag(values['shard-bytes'], '--shard-bytes', { min: 1 }) });
  // config.json as given, its torch_dtype naming what was written (a loader's default precision reads the tensors, but tools read this).
  const hf = JSON.parse(readFileSync(values.config.endsWith('.json') ? values.config : join(values.config, 'config.json'), 'utf8'));
  writeFileSync(join(values.out, 'config.json'), JSON.stringify({ ...hf, torch_dtype: dtype === 'bf16' ? 'bfloat16' : 'float32' }, null, 2) + '\n');
  const params = specs.reduce((s, w) => s + numel(w.shape), 0);
  const bytes = params * (dtype === 'bf16' ? 2 : 4);
  writeFileSync(join(values.out, 'RANDOM_WEIGHTS.txt'), `random weights, seed ${seed}, dtype ${dtype}: not a trained model\n`);
  process.stderr.write(`wrote ${files.length} file(s), ${params.toLocaleString('en-US')} parameters, ${formatBytes(bytes)} in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${values.out}\n`);
  return 0;
}
