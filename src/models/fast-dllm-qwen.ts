import type { ModelDefinition } from './define.ts';
import { dream, type DreamConfig } from './dream.ts';
import { intKey, posIntKey } from './config-keys.ts';

/**
 * Fast-dLLM v2 (`model_type: "Fast_dLLM_Qwen"`, REFERENCE-V2.md): Dream's Qwen2 forward exactly
 * (same tensor names, logit shift, tied head when `tie_word_embeddings`), decoded block by block
 * (decode/v2-routine.ts). Only the config mapping differs: the ids' defaults and `bd_size`.
 */
export interface FastDllmQwenConfig extends DreamConfig {
  /** `bd_size`: the block length of block-diffusion decoding (32 in the published checkpoints). */
  blockSize: number;
}

/** Registry key of Fast-dLLM v2 models; decodeIds dispatches on it. */
export const FAST_DLLM_QWEN = 'fast_dllm_qwen';

/** True when the config is a block-diffusion (Fast-dLLM v2) model. */
export function isBlockDiffusion(cfg: { architecture: string }): cfg is FastDllmQwenConfig {
  return cfg.architecture === FAST_DLLM_QWEN;
}

export const fastDllmQwen: ModelDefinition<FastDllmQwenConfig> = {
  ...(dream as unknown as ModelDefinition<FastDllmQwenConfig>),
  architecture: FAST_DLLM_QWEN,
  matches: (hf) => String(hf.model_type ?? '').toLowerCase() === FAST_DLLM_QWEN,
  fromHfConfig(hf, file) {
    // The published configs carry the ids; the defaults are the Qwen2.5 tokenizer's
    // (|<MASK>| 151665, <|im_end|> 151645 as the stop, <|endoftext|> 151643 as the pad).
    const blockSize = posIntKey(hf, 'bd_size', file, 32);
    return {
      ...dream.fromHfConfig(hf, file),
      architecture: FAST_DLLM_QWEN,
      maskId: intKey(hf, 'mask_token_id', file, 151665),
      eosId: intKey(hf, 'eos_token_id', file, 151645),
      padId: intKey(hf, 'pad_token_id', file, 151643),
      blockSize,
    };
  },
};
