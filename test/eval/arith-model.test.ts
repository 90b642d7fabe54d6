import { openSync, readFileSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../assets/arith-tiny');

/** The keys of the golden LLaDA checkpoints' config.json (LLaDA-8B's HF layout). */
const LLADA_CONFIG_KEYS = [
  'activation_type', 'alibi', 'alibi_bias_max', 'architectures', 'attention_dropout',
  'attention_layer_norm', 'attention_layer_norm_with_affine', 'auto_map', 'bias_for_layer_norm',
  'block_group_size', 'block_type', 'd_model', 'embedding_dropout', 'embedding_size',
  'eos_token_id', 'flash_attention', 'include_bias', 'include_qkv_bias', 'init_cutoff_factor',
  'init_device', 'init_fn', 'init_std', 'input_emb_norm', 'layer_norm_type',
  'layer_norm_with_affine', 'mask_token_id', 'max_sequence_length', 'mlp_hidden_size',
  'mlp_ratio', 'model_type', 'multi_query_attention', 'n_heads', 'n_kv_heads', 'n_layers',
  'pad_token_id', 'precision', 'residual_dropout', 'rms_norm_eps', 'rope', 'rope_full_precision',
  'rope_theta', 'scale_logits', 'transformers_version', 'use_cache', 'vocab_size', 'weight_tying',
];

/** Reads a safetensors header: name -> {dtype, shape, data_offsets}. */
function readHeader(path: string): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    const header = JSON.parse(buf.toString('utf8'));
    delete header.__metadata__;
    return header;
  } finally {
    closeSync(fd);
  }
}

describe('arith-tiny checkpoint', () => {
  const cfg = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'));
  const file = join(DIR, 'model.safetensors');

  it('has an LLaDA config.json with the golden keys', () => {
    expect(Object.keys(cfg).sort()).toEqual([...LLADA_CONFIG_KEYS].sort());
    expect(cfg.model_type).toBe('llada');
    expect(cfg.weight_tying).toBe(false);
    expect(cfg.include_bias).toBe(false);
    expect(cfg.rms_norm_eps).toBe(1e-5);
    expect(cfg.rope_theta).toBe(500000);
    expect(cfg.d_model % cfg.n_heads).toBe(0);
    expect((cfg.d_model / cfg.n_heads) % 2).toBe(0);
  });

  it('stores exactly LLaDA tensor names, F32, with the config shapes, under 20 MB', () => {
    const header = readHeader(file);
    const d = cfg.d_model;
    const hd = d / cfg.n_heads;
    const kv = cfg.n_kv_heads * hd;
    const want: Record<string, number[]> = {
      'model.transformer.wte.weight': [cfg.embedding_size, d],
      'model.transformer.ln_f.weight': [d],
      'model.transformer.ff_out.weight': [cfg.embedding_size, d],
    };
    for (let i = 0; i < cfg.n_layers; i++) {
      const p = `model.transformer.blocks.${i}.`;
      Object.assign(want, {
        [`${p}attn_norm.weight`]: [d],
        [`${p}q_proj.weight`]: [cfg.n_heads * hd, d],
        [`${p}k_proj.weight`]: [kv, d],
        [`${p}v_proj.weight`]: [kv, d],
        [`${p}attn_out.weight`]: [d, cfg.n_heads * hd],
        [`${p}ff_norm.weight`]: [d],
        [`${p}ff_proj.weight`]: [cfg.mlp_hidden_size, d],
        [`${p}up_proj.weight`]: [cfg.mlp_hidden_size, d],
        [`${p}ff_out.weight`]: [d, cfg.mlp_hidden_size],
      });
    }
    expect(Object.keys(header).sort()).toEqual(Object.keys(want).sort());
    let params = 0;
    for (const [name, t] of Object.entries(header)) {
      expect(t.dtype, name).toBe('F32');
      expect(t.shape, name).toEqual(want[name]);
      const n = t.shape.reduce((a, b) => a * b, 1);
      expect(t.data_offsets[1] - t.data_offsets[0], name).toBe(4 * n);
      params += n;
    }
    expect(params).toBeLessThanOrEqual(4_500_000);
    expect(statSync(file).size).toBeLessThanOrEqual(20_000_000);
  });
});
