#!/usr/bin/env node
// One rule, by what sits beside bin/: a clone of the repository (src/ present) runs the TypeScript
// sources through tsx (a dev dependency), so the CLI and the tests that spawn it always run the
// current src/ and never a stale build; an installed package ships dist/ and no src/, and runs the
// compiled dist/ (no tsx needed at run time).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else if (existsSync(built)) {
  ({ main } = await import(built.href));
} else {
  process.stderr.write(`fastdllm: ${fileURLToPath(built)} is missing (the package was not built: run \`npm run build\` in its folder)\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
