import { declareForwardIO, type DecoderConfig, type ModelDefinition } from './define.ts';
import { swigluAttentionLayer, lmHead } from './blocks.ts';
import { boolKey, checkHeads, intKey, numKey, posIntKey } from './config-keys.ts';

/** Dream (Qwen2 layout, q/k/v biases, GQA, shifted logits): REFERENCE.md section 2. */
export interface DreamConfig extends DecoderConfig {
  mlpHidden: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
}

const layerNames = (i: number) => {
  const p = `model.layers.${i}.`;
  return {
    attnNorm: `${p}input_layernorm.weight`,
    q: `${p}self_attn.q_proj.weight`, k: `${p}self_attn.k_proj.weight`, v: `${p}self_attn.v_proj.weight`,
    qBias: `${p}self_attn.q_proj.bias`, kBias: `${p}self_attn.k_proj.bias`, vBias: `${p}self_attn.v_proj.bias`,
    o: `${p}self_attn.o_proj.weight`,
    mlpNorm: `${p}post_attention_layernorm.weight`,
    gate: `${p}mlp.gate_proj.weight`, up: `${p}mlp.up_proj.weight`, down: `${p}mlp.down_proj.weight`,
  };
};

export const dream: ModelDefinition<DreamConfig> = {
  architecture: 'dream',
  matches: (hf) => String(hf.model_type ?? '').toLowerCase() === 'dream',
  fromHfConfig(hf, file) {
    const d = posIntKey(hf, 'hidden_size', file);
    const nHeads = posIntKey(hf, 'num_attention_heads', file);
    const nKvHeads = posIntKey(hf, 'num_key_value_heads', file, nHeads);
    const eosId = intKey(hf, 'eos_token_id', file, 151643);
    return {
      architecture: 'dream',
      vocabSize: posIntKey(hf, 'vocab_size', file),
      dModel: d,
      nLayers: posIntKey(hf, 'num_hidden_layers', file),
      nHeads, nKvHeads,
      headDim: checkHeads(file, d, nHeads, nKvHeads),
      mlpHidden: posIntKey(hf, 'intermediate_size', file),
      eps: numKey(hf, 'rms_norm_eps', file, 1e-6),
      ropeTheta: numKey(hf, 'rope_theta', file, 1e6),
      tied: boolKey(hf, 'tie_word_embeddings', file, false),
      maskId: intKey(hf, 'mask_token_id', file, 151666),
      eosId,
      padId: intKey(hf, 'pad_token_id', file, eosId),
      maxSeqLen: posIntKey(hf, 'max_position_embeddings', file, 32768),
      logitShift: true,
    };
  },
  build(b, cfg) {
    const io = declareForwardIO(b);
    const embed = b.param('model.embed_tokens.weight', [cfg.vocabSize, cfg.dModel]);
    let h = b.embedding(embed, io.ids);
    for (let i = 0; i < cfg.nLayers; i++) h = swigluAttentionLayer(b, io, h, i, layerNames(i), cfg);
    if (cfg.tied) {
      const n = b.rmsnorm(b.gatherRows(h, io.headRows), b.param('model.norm.weight', [cfg.dModel]), cfg.eps);
      b.output('logits', b.matmul(n, embed));
    } else {
      lmHead(b, io, h, 'model.norm.weight', 'lm_head.weight', cfg.dModel, cfg.vocabSize, cfg.eps);
    }
  },
};
