/**
 * A model of your own, written with fastdllm's DSL: GQA, q/k/v biases and a plain (ungated)
 * SiLU MLP, under its own model_type and weight names. Register it, then every fastdllm
 * routine (caches, parallel decoding, batching) runs it.
 *
 *   npx tsx examples/custom-model.ts      # writes a random checkpoint and decodes with it
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  declareForwardIO, declareKvCache, generate, loadModel, registerModel,
  type DecoderConfig, type ModelDefinition,
} from '../src/index.ts';
import { randomCheckpointFill } from '../src/io/random.ts';
import { writeCheckpoint } from '../src/io/safetensors-writer.ts';
import { graphFromConfig } from '../src/runtime/config-graph.ts';

interface TinyGqaConfig extends DecoderConfig { mlp: number }

export const tinyGqa: ModelDefinition<TinyGqaConfig> = {
  architecture: 'tiny-gqa',
  matches: (hf) => hf.model_type === 'tiny-gqa',
  fromHfConfig: (hf) => {
    const d = hf.hidden as number, heads = hf.heads as number;
    return {
      architecture: 'tiny-gqa', vocabSize: hf.vocab as number, dModel: d, nLayers: hf.layers as number,
      nHeads: heads, nKvHeads: hf.kv_heads as number, headDim: d / heads, mlp: hf.mlp as number,
      maskId: hf.mask_token_id as number, eosId: hf.eos_token_id as number, padId: hf.eos_token_id as number,
      maxSeqLen: 512, logitShift: false,
    };
  },
  build(b, c) {
    const io = declareForwardIO(b);
    const kvDim = c.nKvHeads * c.headDim, qDim = c.nHeads * c.headDim;
    const emb = b.param('emb', [c.vocabSize, c.dModel]);
    let h = b.embedding(emb, io.ids);
    for (let i = 0; i < c.nLayers; i++) {
      const p = (n: string) => `layer${i}.${n}`;
      const a = b.rmsnorm(h, b.param(p('norm1'), [c.dModel]), 1e-6);
      const lin = (n: string, out: number) => b.matmul(a, b.param(p(n), [out, c.dModel]), { bias: b.param(p(`${n}_bias`), [out]) });
      const q = b.rope(lin('q', qDim), io.positions, c.nHeads, c.headDim, 10000);
      const k = b.rope(lin('k', kvDim), io.positions, c.nKvHeads, c.headDim, 10000);
      const cache = declareKvCache(b, i, kvDim);
      const r = c.nHeads / c.nKvHeads;
      const kc = b.repeatKv(b.cacheWrite(cache.k, k, io.start), c.nKvHeads, c.headDim, r);
      const vc = b.repeatKv(b.cacheWrite(cache.v, lin('v', kvDim), io.start), c.nKvHeads, c.headDim, r);
      const o = b.attention(q, kc, vc, io.keyMask, { heads: c.nHeads, kvHeads: c.nHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) });
      h = b.add(h, b.matmul(o, b.param(p('o'), [c.dModel, qDim])));
      const f = b.rmsnorm(h, b.param(p('norm2'), [c.dModel]), 1e-6);
      // an ungated MLP: down(silu(up(f)))
      h = b.add(h, b.matmul(b.silu(b.matmul(f, b.param(p('up'), [c.mlp, c.dModel]))), b.param(p('down'), [c.dModel, c.mlp])));
    }
    const last = b.rmsnorm(b.gatherRows(h, io.headRows), b.param('final_norm', [c.dModel]), 1e-6);
    b.output('logits', b.matmul(last, emb)); // tied head
  },
};

/** Writes config.json and random weights for the model into a fresh directory. */
export function writeTinyGqaCheckpoint(seed = 1): string {
  registerModel(tinyGqa);
  const dir = mkdtempSync(join(tmpdir(), 'fastdllm-tiny-gqa-'));
  const config = { model_type: 'tiny-gqa', hidden: 64, heads: 4, kv_heads: 2, layers: 2, mlp: 96, vocab: 300, mask_token_id: 299, eos_token_id: 298 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const specs = graphFromConfig(dir).weights.map((w) => ({
    ...w, dtype: 'F32' as const, init: /norm/.test(w.name) ? { kind: 'ones' as const } : { kind: 'normal' as const, std: 0.5 },
  }));
  writeCheckpoint(dir, specs, randomCheckpointFill(seed, specs));
  return dir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = writeTinyGqaCheckpoint();
  const model = await loadModel(dir);
  const r = await generate(model, [5, 6, 7, 8], { genLength: 32, blockLength: 8, cache: 'dual', threshold: 0.9 });
  console.log(`tokens ${r.tokens[0].join(',')}\nnfe ${r.nfe}, ${r.tokensPerForward.toFixed(2)} tokens/forward`);
  rmSync(dir, { recursive: true, force: true });
}
