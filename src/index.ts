/** fastdllm's public API. */
export { loadModel, generate, generateStream, decodeText, encodePrompts, DEFAULT_MODEL_DIR } from './api.ts';
export type { Model, Prompt, GenerateResult, GenerateEvent, TextOptions } from './api.ts';
export type { GenerateOptions, CacheMode, DreamAlg, Remasking } from './decode/options.ts';
export { OptionError } from './decode/options.ts';
export { GraphBuilder } from './ir/builder.ts';
export type { Tensor } from './ir/builder.ts';
export { printGraph } from './ir/printer.ts';
export { fuse } from './ir/passes/fuse.ts';
export { declareForwardIO, declareKvCache, buildForwardGraph } from './models/define.ts';
export type { DecoderConfig, ModelDefinition, ForwardIO, BuildOptions } from './models/define.ts';
export { swigluAttentionLayer, lmHead } from './models/blocks.ts';
export { registerModel, findModelDefinition } from './models/registry.ts';
export { llada } from './models/llada.ts';
export { dream } from './models/dream.ts';
export { loadHostModel } from './runtime/model.ts';
export { forwardFull } from './runtime/forward.ts';
export { createServer } from './serve/server.ts';
export type { Server, ServeOptions } from './serve/server.ts';
