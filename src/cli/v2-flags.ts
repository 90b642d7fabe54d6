/** generate's flags for Fast-dLLM v2 models (REFERENCE-V2.md). */
export const V2_FLAGS = {
  'small-block': { type: 'string' }, 'block-cache': { type: 'boolean' }, 'stop-id': { type: 'string' }, 'pad-id': { type: 'string' },
} as const;

/** generate's help lines for those flags. */
export const V2_HELP = `Fast-dLLM v2 models (model_type Fast_dLLM_Qwen) decode block by block: --small-block N (default 8,
divides the block of 32), --threshold T (default 0.9, strict), --block-cache (the sub-block cache; off by
default, as published), --gen-length N (the most new tokens, in whole blocks), --mask-id/--stop-id/--pad-id
(default config.json's mask_token_id, eos_token_id, pad_token_id). v1 options (--cache, --steps, ...) are refused.
`;
