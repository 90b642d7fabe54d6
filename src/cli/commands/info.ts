import { Checkpoint, hasCheckpoint } from '../../io/checkpoint.ts';
import { intFlag, parseFlags, UsageError } from '../args.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { numel } from '../../util/math.ts';
import { formatBytes } from '../../util/format.ts';

const HELP = `usage: fastdllm info --model DIR [--prompt-length N] [--gen-length N] [--batch N] [--json]
Prints the architecture, parameter count, checkpoint dtypes and the memory a CPU run needs
(f32 weights, KV cache for prompt + generation, peak activations).
`;

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, 'prompt-length': { type: 'string' }, 'gen-length': { type: 'string' }, batch: { type: 'string' },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  if (!values.model) throw new UsageError('--model DIR is required');
  const dir = values.model;
  const hasCkpt = hasCheckpoint(dir);
  const ckpt = hasCkpt ? Checkpoint.open(dir) : undefined;
  try {
    const spec = graphFromConfig(dir, {}, ckpt ? (n) => ckpt.has(n) : undefined);
    const c = spec.config;
    const params = spec.weights.reduce((s, w) => s + numel(w.shape), 0);
    const B = intFlag(values.batch, '--batch', { min: 1 }) ?? 1;
    const L = (intFlag(values['prompt-length'], '--prompt-length', { min: 1 }) ?? 64) + (intFlag(values['gen-length'], '--gen-length', { min: 1 }) ?? 256);
    const kvBytes = 2 * c.nLayers * B * L * c.nKvHeads * c.headDim * 4;
    const mlp = (c as unknown as { mlpHidden?: number }).mlpHidden ?? 4 * c.dModel;
    const actBytes = 4 * B * L * (4 * c.dModel + 3 * mlp) + 4 * B * L * c.vocabSize;
    const dtypes = ckpt ? [...ckpt.dtypes()].sort() : [];
    const info = {
      architecture: c.architecture, layers: c.nLayers, dModel: c.dModel, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: c.headDim,
      mlpHidden: mlp, vocab: c.vocabSize, maskId: c.maskId, eosId: c.eosId, maxSeqLen: c.maxSeqLen,
      parameters: params, checkpointBytes: ckpt?.totalBytes() ?? null, dtypes,
      memory: { weightsF32: params * 4, kvCache: kvBytes, activationsPeak: actBytes, total: params * 4 + kvBytes + actBytes, batch: B, tokens: L },
    };
    if (values.json) {
      process.stdout.write(JSON.stringify(info) + '\n');
      return 0;
    }
    process.stdout.write([
      `architecture  ${c.architecture} (${c.nLayers} layers, d ${c.dModel}, ${c.nHeads} heads / ${c.nKvHeads} kv heads, head dim ${c.headDim}, MLP ${mlp}, vocab ${c.vocabSize})`,
      `parameters    ${params.toLocaleString('en-US')} (${(params / 1e6).toFixed(2)} M)`,
      `checkpoint    ${ckpt ? `${formatBytes(ckpt.totalBytes())}, dtypes ${dtypes.join(', ')}` : 'none (config only)'}`,
      `tokens        mask ${c.maskId}, eos ${c.eosId}, max sequence ${c.maxSeqLen}`,
      `memory (CPU, batch ${B}, ${L} tokens): weights ${formatBytes(params * 4)} (f32), KV cache ${formatBytes(kvBytes)}, activations ~${formatBytes(actBytes)}, total ~${formatBytes(info.memory.total)}`,
    ].join('\n') + '\n');
    return 0;
  } finally {
    ckpt?.close();
  }
}
