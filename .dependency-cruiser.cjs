// Import rules of fastdllm, checked by `npx depcruise src bench` and in `npm test`
// (test/arch/dependencies.test.ts). Type-only imports count too (tsPreCompilationDeps): a
// circle of types is still a circle for the reader.
//
// Layers, lowest first; each may import only the layers listed for it (and itself):
//   util/     small pure helpers (numel, median, formatBytes): imports nothing, used by all
//   env.ts    every knob, read once: imports nothing from src/
//   io/       safetensors, tokenizer, chat template: a leaf, imports nothing from src/
//   ir/       pure data and the DSL: no I/O, no FFI, not even env.ts
//   models/   ir <- models
//   codegen/  ir <- codegen: pure functions from IR to source text
//   runtime/  the only layer that touches FFI (koffi) or devices
//   decode/   Fast-dLLM over the runtime
//   api.ts    loadModel / generate / generateStream, over decode
//   eval/     evaluation tasks and harness, over the API
//   serve/    the HTTP server, over the API
//   cli/      the commands: any layer above except index.ts
//   index.ts  the package's entry point: re-exports, imported by nothing in src/
const BELOW_RUNTIME = ['util', 'env.ts', 'io', 'ir', 'models', 'codegen'];
const LAYERS = {
  util: [],
  'env.ts': ['util'],
  io: ['util'],
  ir: ['util'],
  models: ['util', 'ir'],
  codegen: ['util', 'ir'],
  runtime: BELOW_RUNTIME,
  decode: [...BELOW_RUNTIME, 'runtime'],
  'api.ts': [...BELOW_RUNTIME, 'runtime', 'decode'],
  eval: [...BELOW_RUNTIME, 'runtime', 'decode', 'api.ts'],
  serve: [...BELOW_RUNTIME, 'runtime', 'decode', 'api.ts'],
  cli: [...BELOW_RUNTIME, 'runtime', 'decode', 'api.ts', 'eval', 'serve'],
  'index.ts': [...BELOW_RUNTIME, 'runtime', 'decode', 'api.ts', 'eval', 'serve'],
};

const esc = (s) => s.replace(/\./g, '\\.');
// A layer's path pattern: a folder (src/ir/...) or a single file (src/env.ts).
const layerPath = (l) => (l.endsWith('.ts') ? `^src/${esc(l)}$` : `^src/${l}/`);

const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `layer-${layer.replace('.ts', '')}`,
  comment: `src/${layer} may import from src/ only: ${allowed.length ? allowed.join(', ') : 'nothing'} (see the layer list at the top of .dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: layerPath(layer) },
  to: { path: '^src/', pathNot: [layerPath(layer), ...allowed.map(layerPath)] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Imports never form a circle: put what both sides need (a store, an interface) in a module that imports neither (DESIGN.md, "Stores apart from their users").',
      severity: 'error',
      from: { path: '^(src|bench)/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'unknown-layer',
      comment: 'Every file under src/ belongs to a layer listed in .dependency-cruiser.cjs: add a new folder there with its place in the order.',
      severity: 'error',
      from: { path: '^src/', pathNot: Object.keys(LAYERS).map(layerPath) },
      to: {},
    },
    {
      name: 'koffi-only-in-runtime',
      comment: 'FFI (koffi) is the runtime\'s alone; ir/ and codegen/ stay pure, the rest go through the runtime.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/runtime/' },
      to: { path: '(^|/)node_modules/koffi/' },
    },
    {
      name: 'no-test-imports',
      comment: 'The package and the benches never import test code: move what both need into src/ (or bench/).',
      severity: 'error',
      from: { path: '^(src|bench)/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve (a moved or misspelt module).',
      severity: 'error',
      from: { path: '^(src|bench)/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are imports (TypeScript 7 has no JS compiler API: swc parses the .ts).
    tsPreCompilationDeps: true,
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    // Node's own modules (node:fs, ...) are not layers.
    exclude: { path: '^node:' },
  },
};
