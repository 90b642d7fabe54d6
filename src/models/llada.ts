import { declareForwardIO, type DecoderConfig, type ModelDefinition } from './define.ts';
import { swigluAttentionLayer, lmHead } from './blocks.ts';
import { boolKey, checkHeads, ConfigError, intKey, numKey, posIntKey } from './config-keys.ts';

/** LLaDA (GSAI-ML) in its HF layout: REFERENCE.md section 1. */
export interface LladaConfig extends DecoderConfig {
  mlpHidden: number;
  embeddingRows: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  qkvBias: boolean;
}

const P = 'model.transformer.';
const layerNames = (i: number, bias: boolean) => {
  const p = `${P}blocks.${i}.`;
  return {
    attnNorm: `${p}attn_norm.weight`,
    q: `${p}q_proj.weight`, k: `${p}k_proj.weight`, v: `${p}v_proj.weight`,
    ...(bias ? { qBias: `${p}q_proj.bias`, kBias: `${p}k_proj.bias`, vBias: `${p}v_proj.bias` } : {}),
    o: `${p}attn_out.weight`,
    mlpNorm: `${p}ff_norm.weight`,
    gate: `${p}ff_proj.weight`, up: `${p}up_proj.weight`, down: `${p}ff_out.weight`,
  };
};

export const llada: ModelDefinition<LladaConfig> = {
  architecture: 'llada',
  matches: (hf) => String(hf.model_type ?? '').toLowerCase() === 'llada',
  fromHfConfig(hf, file) {
    const d = posIntKey(hf, 'd_model', file);
    const nHeads = posIntKey(hf, 'n_heads', file);
    const nKvHeads = posIntKey(hf, 'n_kv_heads', file, nHeads);
    const vocab = posIntKey(hf, 'vocab_size', file);
    const embeddingRows = posIntKey(hf, 'embedding_size', file, vocab);
    if (embeddingRows < vocab) throw new ConfigError(`${file}: embedding_size ${embeddingRows} < vocab_size ${vocab}`);
    const maskId = intKey(hf, 'mask_token_id', file, 126336);
    const eosId = intKey(hf, 'eos_token_id', file, 126081);
    return {
      architecture: 'llada',
      vocabSize: embeddingRows,
      dModel: d,
      nLayers: posIntKey(hf, 'n_layers', file),
      nHeads, nKvHeads,
      headDim: checkHeads(file, d, nHeads, nKvHeads),
      mlpHidden: posIntKey(hf, 'mlp_hidden_size', file),
      embeddingRows,
      eps: numKey(hf, 'rms_norm_eps', file, 1e-5),
      ropeTheta: numKey(hf, 'rope_theta', file, 500000),
      tied: boolKey(hf, 'weight_tying', file, false),
      qkvBias: boolKey(hf, 'include_bias', file, false) || boolKey(hf, 'include_qkv_bias', file, false),
      maskId, eosId,
      padId: intKey(hf, 'pad_token_id', file, eosId),
      maxSeqLen: posIntKey(hf, 'max_sequence_length', file, 4096),
      logitShift: false,
    };
  },
  build(b, cfg, opts) {
    const io = declareForwardIO(b);
    const wte = b.param(`${P}wte.weight`, [cfg.embeddingRows, cfg.dModel]);
    let h = b.embedding(wte, io.ids);
    const dims = { ...cfg, mlpHidden: cfg.mlpHidden };
    for (let i = 0; i < cfg.nLayers; i++) {
      const bias = cfg.qkvBias || opts.hasWeight(`${P}blocks.${i}.q_proj.bias`);
      h = swigluAttentionLayer(b, io, h, i, layerNames(i, bias), dims);
    }
    const head = cfg.tied ? `${P}wte.weight` : `${P}ff_out.weight`;
    // A tied head reads the embedding table: declare it once (params are unique by name).
    if (cfg.tied) {
      const rows = b.gatherRows(h, io.headRows);
      const n = b.rmsnorm(rows, b.param(`${P}ln_f.weight`, [cfg.dModel]), cfg.eps);
      b.output('logits', b.matmul(n, wte));
    } else {
      lmHead(b, io, h, `${P}ln_f.weight`, head, cfg.dModel, cfg.vocabSize, cfg.eps);
    }
  },
};
