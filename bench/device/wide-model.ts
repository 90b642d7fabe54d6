import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph } from '../../src/ir/graph.ts';
import { uniformWeights } from '../../src/io/random.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import { graphFromConfig } from '../../src/runtime/config-graph.ts';
import type { WeightSource } from '../../src/runtime/executor.ts';
import { fromBf16, toBf16 } from '../../src/runtime/cuda/weights.ts';
import type { LladaConfig } from '../../src/models/llada.ts';

/** LLaDA-8B-Instruct's config.json (a fixture the tests, inspect and tune read too). */
const LLADA_8B_CONFIG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'configs', 'llada-8b-instruct.json');

/**
 * A model of LLaDA-8B's width (d 4096, 32 heads, MLP 12288, from the real config) with `layers`
 * layers and random weights made in memory (bf16-exact when asked). The LM head's std is small so
 * logits are O(0.2): the elementwise bf16 tolerance then tests the kernels, not the logit scale.
 * The step bench and the bf16-at-width GPU test both run it.
 */
export function wideLlada(layers: number, vocab?: number, small = false): { graph: Graph; weights: (bf16: boolean) => WeightSource; vocab: number; config: LladaConfig } {
  const override: Record<string, unknown> = { n_layers: layers };
  if (vocab) Object.assign(override, { vocab_size: vocab, embedding_size: vocab });
  // `small`: the same structure at a width a CPU model of the kernels can run (script smoke tests).
  if (small) Object.assign(override, { d_model: 256, n_heads: 2, n_kv_heads: 2, mlp_hidden_size: 512 });
  const { graph, config } = graphFromConfig(LLADA_8B_CONFIG, override);
  const f = uniformWeights(20260101, (n) => (n.endsWith('ff_out.weight') && !n.includes('blocks') ? 0.003 : 0.02));
  return {
    graph,
    config: config as LladaConfig,
    vocab: config.vocabSize,
    weights: (bf16) => (name, shape) => (bf16 ? fromBf16(toBf16(f(name, shape))) : f(name, shape)),
  };
}

/** A dual-cache step: a refresh over the whole canvas (L rows), then the block window [s, s + 32) with 32 head rows. */
export function dualStepCalls(vocab: number, L = 288, s = 256, T = 32): Record<string, HostTensor>[] {
  const ids = (n: number) => new Int32Array(n).map((_, i) => (i * 7919 + 13) % vocab);
  const iota = (a: number, n: number) => Int32Array.from({ length: n }, (_, i) => a + i);
  const refresh = { ids: { data: ids(L), shape: [1, L] }, positions: { data: iota(0, L), shape: [1, L] }, start: { data: Int32Array.of(0), shape: [] }, keyMask: { data: new Uint8Array(L).fill(1), shape: [1, L] }, headRows: { data: iota(0, T), shape: [1, T] } };
  const step = { ids: { data: ids(T).map((x) => (x + 1) % vocab), shape: [1, T] }, positions: { data: iota(s, T), shape: [1, T] }, start: { data: Int32Array.of(s), shape: [] }, keyMask: { data: new Uint8Array(L).fill(1), shape: [1, L] }, headRows: { data: iota(0, T), shape: [1, T] } };
  return [refresh, step];
}
