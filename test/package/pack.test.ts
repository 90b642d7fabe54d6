/**
 * The package as a user gets it: `npm pack` (whose `prepare` builds dist/), unpacked into a project
 * outside the repository, then imported from plain JavaScript, type-checked from TypeScript and
 * run through its bin. Offline: the tarball's declared dependencies are linked from this
 * repository's node_modules (what `npm ci` installed) rather than fetched, so the check needs no
 * registry; a dependency missing from package.json's `dependencies` is not linked and fails here.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, loadModel } from '../../src/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PROMPT = 'Ana has 12 pencils. She buys 7 more. How many pencils does Ana have now?';
const OPTIONS = { chat: true, genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.9 } as const;   // the embedded model's chat format

let tmp = '';
let project = '';   // the consumer project
let pkg = '';       // node_modules/fastdllm inside it
let packed: string[] = [];
let inRepo: Promise<{ tokens: number[][]; text: string[] }> | undefined;

/** The same decode through the repository's own API (src/), computed once. */
const expected = () => (inRepo ??= loadModel().then((m) => generate(m, PROMPT, OPTIONS)));

/** Runs a command, failing with its output when it exits non-zero. */
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  // This node's folder first on PATH: the bin's `#!/usr/bin/env node` must find the same node.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, ...opts.env };
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000, ...opts, env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return String(r.stdout);
}

/** Links node_modules/<name> of the consumer to this repository's installed copy. */
function linkDependency(name: string): void {
  const from = join(ROOT, 'node_modules', name);
  if (!existsSync(from)) throw new Error(`dependency ${name} is not installed in ${ROOT}/node_modules (run npm ci)`);
  mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true });
  symlinkSync(from, join(project, 'node_modules', name), 'dir');
}

beforeAll(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'fastdllm-pack-')));   // real: node reports modules' real paths
  const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: ROOT })) as { filename: string; files: { path: string }[] }[];
  packed = info!.files.map((f) => f.path);
  project = join(tmp, 'consumer');
  mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // What `npm install <tarball>` lays out: the package's files under node_modules/fastdllm, its
  // dependencies beside it, its bin linked (and made executable) in node_modules/.bin.
  run('tar', ['-xzf', join(tmp, info!.filename), '-C', join(project, 'node_modules')]);
  pkg = join(project, 'node_modules', 'fastdllm');
  renameSync(join(project, 'node_modules', 'package'), pkg);
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bin: Record<string, string> };
  for (const name of Object.keys(manifest.dependencies)) linkDependency(name);
  linkDependency('@types/node');   // the consumer's own dev dependency, for its type check
  chmodSync(join(pkg, manifest.bin.fastdllm!), 0o755);
  symlinkSync(join('..', 'fastdllm', manifest.bin.fastdllm!), join(project, 'node_modules', '.bin', 'fastdllm'));
}, 120_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('the packed package', () => {
  it('ships the build, the templates, the embedded model and the bin, and no sources', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/fastdllm.js', 'templates/fd_common.cuh', 'assets/arith-tiny/model.safetensors', 'assets/arith-tiny/tokenizer.json']) {
      expect(packed, f).toContain(f);
    }
    expect(packed.filter((f) => /^(src|test|bench|tools)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    // Every relative import of the emitted JavaScript names a .js file (rewritten from .ts).
    const index = readFileSync(join(pkg, 'dist', 'index.js'), 'utf8');
    expect(index).toMatch(/from '\.\/api\.js'/);
    expect(index).not.toMatch(/\.ts'/);
  });

  it('imports from plain JavaScript and decodes with the embedded model as the repository API does', async () => {
    const script = `import { loadModel, generate } from 'fastdllm';
const model = await loadModel();
const r = await generate(model, ${JSON.stringify(PROMPT)}, ${JSON.stringify(OPTIONS)});
process.stdout.write(JSON.stringify({ dir: model.dir, tokens: r.tokens, text: r.text }));`;
    const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], { cwd: project })) as { dir: string; tokens: number[][]; text: string[] };
    const want = await expected();
    expect(out.dir).toBe(join(pkg, 'assets', 'arith-tiny'));   // the installed copy, not the repo's
    expect(out.tokens).toEqual(want.tokens);
    expect(out.text).toEqual(want.text);
    expect(out.text[0]!.length).toBeGreaterThan(0);
  });

  it('type-checks a TypeScript consumer against the installed .d.ts files', () => {
    writeFileSync(join(project, 'consumer.ts'), `import { loadModel, generate, createServer, type GenerateOptions, type GenerateResult, type ServeOptions, type TextOptions } from 'fastdllm';
const model = await loadModel();
const options: GenerateOptions & TextOptions = ${JSON.stringify(OPTIONS)};
const r: GenerateResult = await generate(model, 'Ana has 12 pencils.', options);
const first: number[] = r.tokens[0]!;
console.log(first.length, r.text[0]!.length, r.nfe.toFixed(0));
// @ts-expect-error genLength is a number: fails if the types were lost (any)
await generate(model, 'x', { genLength: 'long' });
const serveOptions: ServeOptions = { workers: 'auto', maxBatch: 8 };
const server = createServer(model, serveOptions);
await server.ready;
await server.shutdown();
// @ts-expect-error workers is a number or 'auto'
createServer(model, { workers: 'many' });
`);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
      files: ['consumer.ts'],
    }));
    run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(project, 'tsconfig.json')], { cwd: project });
  });

  it('runs the installed bin: generate, and inspect reading the installed templates/', async () => {
    const out = JSON.parse(run(join(project, 'node_modules', '.bin', 'fastdllm'),
      ['generate', PROMPT, '--gen-length', String(OPTIONS.genLength), '--block-length', String(OPTIONS.blockLength), '--cache', OPTIONS.cache, '--threshold', String(OPTIONS.threshold), '--chat', '--json'], { cwd: project })) as { tokens: number[][] };
    expect(out.tokens).toEqual((await expected()).tokens);
    // A marker appended to the installed template must show in the emitted CUDA source.
    appendFileSync(join(pkg, 'templates', 'fd_common.cuh'), '\n// installed-copy-marker\n');
    const cu = run(join(project, 'node_modules', '.bin', 'fastdllm'),
      ['inspect', '--model', join(pkg, 'assets', 'arith-tiny'), '--kernel', 'select_scatter', '--emit', 'cu'], { cwd: project });
    expect(cu).toContain('// ---- fd_common.cuh');
    expect(cu).toContain('// installed-copy-marker');
  });

  it('serves from the installed build with pool workers (their entry is dist/serve/engine-worker.js)', async () => {
    const child = spawn(join(project, 'node_modules', '.bin', 'fastdllm'), ['serve', '--port', '0', '--workers', '2'], {
      cwd: project, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    try {
      for (let i = 0; i < 600 && !/listening on (http:\S+)/.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
      const base = /listening on (http:\S+)/.exec(stdout)?.[1];
      expect(base, stderr).toBeDefined();
      expect(stdout).toContain('(2 worker threads)');
      const messages = [{ role: 'user', content: PROMPT }];
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages, max_tokens: OPTIONS.genLength, block_length: OPTIONS.blockLength, threshold: OPTIONS.threshold }),
      });
      const body = await r.json() as { choices: { message: { content: string } }[] };
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(body.choices[0].message.content).toBe((await expected()).text[0]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
