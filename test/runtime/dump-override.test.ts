import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveSource } from '../../src/runtime/kernel-source.ts';
import { CODEGEN_VERSION } from '../../src/runtime/kernel-cache.ts';
import { cli } from '../helpers/cli.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

const MODEL = join(import.meta.dirname, '..', '..', 'assets', 'arith-tiny');
const IDS = '5,17,40,99,3,3,12';
const tmp = mkdtempSync(join(tmpdir(), 'fastdllm-dump-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Every run gets its own kernel cache, so an overridden module never lands in the shared one.
const CACHE = join(tmp, 'cache');
const run = (args: string[], env: Record<string, string> = {}) => cli(args, undefined, {
  FASTDLLM_CACHE_DIR: CACHE, FASTDLLM_DEBUG: undefined, FASTDLLM_DUMP_DIR: undefined, FASTDLLM_OVERRIDE_DIR: undefined, FASTDLLM_POISON: undefined, ...env,
});
const ok = (r: ReturnType<typeof cli>) => { expect(r.code, r.stderr).toBe(0); return r.stdout; };

interface Logits { shape: [number, number]; logits: (number | null)[] }
/** `forward --json` prints NaN as NaN; read it as null. */
const forward = (env: Record<string, string> = {}): Logits =>
  JSON.parse(ok(run(['forward', '--model', MODEL, '--ids', IDS, '--json', '--device', 'cpu'], env)).replace(/NaN/g, 'null'));

interface Listing { module: string; kernels: { name: string; nodes: number[] }[] }
const listing = (): Listing => JSON.parse(ok(run(['inspect', '--device', 'cpu', '--model', MODEL, '--json'])));
const moduleSource = () => ok(run(['inspect', '--device', 'cpu', '--model', MODEL, '--emit', 'cpp']));

/** The LM head's kernel: the one running the graph's last node (the logits). */
function headKernel(l: Listing): string {
  const last = Math.max(...l.kernels.flatMap((k) => k.nodes));
  return l.kernels.find((k) => k.nodes.includes(last))!.name;
}

/** Edits one kernel function of a module: `edit(body, out, rows)` gets the out pointer's and row count's names. */
function editKernel(module: string, fnText: string, edit: (fn: string, out: string, rows: string) => string): string {
  expect(module).toContain(fnText);
  const params = /\(([^)]*)\)\s*\{/.exec(fnText)![1].split(',').map((p) => p.trim());
  const out = params.map((p) => /^float\s*\*\s*(\w+)$/.exec(p)?.[1]).find(Boolean)!;
  const rows = /int64_t\s+(\w+)$/.exec(params.at(-1)!)![1];
  expect(out, fnText).toBeTruthy();
  return module.replace(fnText, edit(fnText, out, rows));
}

/**
 * An override folder `name` holding the module with the LM head's kernel edited by `edit` (given
 * the vocabulary size too), and the unedited forward's logits to compare with.
 */
function headOverride(name: string, edit: (fn: string, out: string, rows: string, vocab: number) => string) {
  const l = listing(), head = headKernel(l);
  const fnText = ok(run(['inspect', '--device', 'cpu', '--model', MODEL, '--kernel', head, '--emit', 'cpp']));
  const base = forward();
  const over = join(tmp, name);
  mkdirSync(over, { recursive: true });
  writeFileSync(join(over, `${l.module}.cpp`), editKernel(moduleSource(), fnText, (fn, out, rows) => edit(fn, out, rows, base.shape[1])));
  return { module: l.module, base, T: base.shape[0], V: base.shape[1], over };
}

describe('one dump / override path (runtime/kernel-source.ts, both targets)', () => {
  it('dumps the generated source and returns a same-named override instead', () => {
    const dump = join(tmp, 'unit-dump'), over = join(tmp, 'unit-over');
    mkdirSync(over, { recursive: true });
    const a = effectiveSource('k_a.cu', '// generated a\n', { dumpDir: dump, overrideDir: over });
    expect(a).toEqual({ source: '// generated a\n', path: join(dump, 'k_a.cu'), overridden: false });
    writeFileSync(join(over, 'cpu_b.cpp'), '// hand-edited b\n');
    const b = effectiveSource('cpu_b.cpp', '// generated b\n', { dumpDir: dump, overrideDir: over });
    expect(b).toEqual({ source: '// hand-edited b\n', path: join(over, 'cpu_b.cpp'), overridden: true });
    // The dump always holds what was generated, so a dump can seed an override.
    expect(readFileSync(join(dump, 'cpu_b.cpp'), 'utf8')).toBe('// generated b\n');
  });
});

describeGated(CXX, 'FASTDLLM_DUMP_DIR / FASTDLLM_OVERRIDE_DIR on the CPU, through the CLI', () => {
  it('dumps the module that inspect --device cpu prints', () => {
    const dump = join(tmp, 'dump');
    forward({ FASTDLLM_DUMP_DIR: dump });
    const { module } = listing();
    const files = readdirSync(dump);
    expect(files).toContain(`${module}.cpp`);
    expect(readFileSync(join(dump, `${module}.cpp`), 'utf8')).toBe(moduleSource());
  });

  it('compiles and runs the hand-edited override: the head kernel adding 1 shifts every logit by 1', () => {
    const { module, base, T, V, over } = headOverride('over-add', (fn, out, rows, vocab) =>
      fn.replace(/\}\s*$/, `  for (int64_t i_ = 0; i_ < ${rows} * ${vocab}; i_++) ${out}[i_] += 1.0f;\n}\n`));
    const r = run(['forward', '--model', MODEL, '--ids', IDS, '--json', '--device', 'cpu'], { FASTDLLM_OVERRIDE_DIR: over, FASTDLLM_DEBUG: '1' });
    expect(r.stderr).toContain(`using override ${join(over, `${module}.cpp`)}`);
    const got: Logits = JSON.parse(ok(r));
    expect(got.shape).toEqual([T, V]);
    let maxErr = 0;
    for (let i = 0; i < T * V; i++) maxErr = Math.max(maxErr, Math.abs(got.logits[i]! - (base.logits[i]! + 1)) / (1 + Math.abs(base.logits[i]!)));
    expect(maxErr).toBeLessThan(1e-5);
    // The overridden build has its own cache entry: the generated one is still there, untouched.
    expect(readdirSync(join(CACHE, `v${CODEGEN_VERSION}`, `host-${process.arch}`)).filter((d) => d.startsWith(`${module}-`)).length).toBe(2);
  });

  it('poisoned outputs catch a kernel that skips its last row: NaN there, unless FASTDLLM_POISON=0', () => {
    const { module, base, T, V, over } = headOverride('over-skip', (fn, _out, rows) =>
      fn.replace('{', `{\n  if (${rows} > 0) ${rows} -= 1; // forgets the last row`));
    const got = forward({ FASTDLLM_OVERRIDE_DIR: over });
    expect(got.logits.slice(0, (T - 1) * V)).toEqual(base.logits.slice(0, (T - 1) * V));
    expect(got.logits.slice((T - 1) * V).every((x) => x === null)).toBe(true);
    const unpoisoned = forward({ FASTDLLM_OVERRIDE_DIR: over, FASTDLLM_POISON: '0' });
    expect(unpoisoned.logits.every((x) => x !== null)).toBe(true);
    expect(existsSync(join(over, `${module}.cpp`))).toBe(true);
  });
});
