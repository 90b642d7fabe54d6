import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gemmSpace, isDefaultGemm } from '../../src/codegen/cpu/tuning.ts';

/** A CPU GEMM tile as the tuning file stores it. */
type GemmConfig = { kb: number; mr: number };
import { cli } from '../helpers/cli.ts';
import { CXX, describeGated } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';

/**
 * `fastdllm tune --model DIR` on the CPU, and "later loads use the saved tuning": each load's
 * generated source (kept in the kernel cache) names the tuned tile of every GEMM, and the
 * logits do not change (a config changes speed only).
 */
const MODEL = modelDir('llada_s3');
const FORWARD = ['forward', '--model', MODEL, '--ids', '3,1,4,1,5,9,2,6', '--json', '--device', 'cpu'];

function forwardIn(cache: string): { logits: number[]; sources: string[] } {
  const r = cli(FORWARD, undefined, { FASTDLLM_CACHE_DIR: cache });
  expect(r.code, r.stderr).toBe(0);
  const sources: string[] = [];
  const walk = (d: string): void => { for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : e.name === 'kernel.cpp' && sources.push(readFileSync(join(d, e.name), 'utf8')); };
  walk(join(cache, 'v1'));
  return { logits: JSON.parse(r.stdout).logits, sources };
}

/** A fresh cache holding only `tuning` at the tuning file's place. */
function cacheWith(file: string, tuning: Record<string, GemmConfig>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-tuned-'));
  mkdirSync(join(dir, dirname(file)), { recursive: true });
  writeFileSync(join(dir, file), JSON.stringify({ gemm: tuning }));
  return dir;
}

describeGated(CXX, 'fastdllm tune --model (CPU)', () => {
  it('saves the fastest config per GEMM shape, and later loads generate those tiles with unchanged logits', () => {
    const cache = mkdtempSync(join(tmpdir(), 'fdllm-tune-'));
    const r = cli(['tune', '--model', MODEL, '--tokens', '8', '--reps', '1', '--json'], undefined, { FASTDLLM_CACHE_DIR: cache });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { file: string; results: { key: string; n: number; k: number; best: GemmConfig; trials: { config: GemmConfig; ms: number }[] }[] };
    expect(out.file.startsWith(join(cache, 'tune'))).toBe(true);
    const saved = JSON.parse(readFileSync(out.file, 'utf8')) as { gemm: Record<string, GemmConfig> };
    // llada_s3: q/k/v/o (n = k = d_model), gate/up, down, the head.
    expect(out.results.length).toBeGreaterThanOrEqual(3);
    for (const res of out.results) {
      expect(res.trials).toHaveLength(gemmSpace(res.k).length);
      expect(res.best).toEqual(res.trials.reduce((a, t) => (t.ms < a.ms ? t : a)).config);
      expect(saved.gemm[res.key], res.key).toMatchObject(res.best);
    }

    const untuned = forwardIn(mkdtempSync(join(tmpdir(), 'fdllm-untuned-')));
    expect(untuned.sources.join('')).not.toMatch(/matmul_\w*_kb\d+_mr\d+/);
    const file = relative(cache, out.file);

    // The tuner's own choice: tiles other than the default appear in the kernel names.
    const tuned = forwardIn((() => { const d = mkdtempSync(join(tmpdir(), 'fdllm-tuned-')); cpSync(join(cache, 'tune'), join(d, 'tune'), { recursive: true }); return d; })());
    for (const res of out.results) {
      const named = new RegExp(`matmul_\\w*n${res.n}_k${res.k}\\w*_kb${res.best.kb}_mr${res.best.mr}\\b`);
      if (isDefaultGemm(res.best)) expect(tuned.sources.join(''), res.key).not.toMatch(new RegExp(`n${res.n}_k${res.k}\\w*_kb\\d+`));
      else expect(tuned.sources.join(''), res.key).toMatch(named);
    }
    expect(tuned.logits).toEqual(untuned.logits);

    // A saved non-default tile for every shape: every GEMM kernel carries it, same logits.
    const forced = Object.fromEntries(out.results.map((res) => [res.key, gemmSpace(res.k).find((c) => !isDefaultGemm(c))!]));
    const f = forwardIn(cacheWith(file, forced));
    for (const res of out.results) expect(f.sources.join(''), res.key).toMatch(new RegExp(`n${res.n}_k${res.k}\\w*_kb${forced[res.key].kb}_mr${forced[res.key].mr}\\b`));
    expect(f.logits).toEqual(untuned.logits);
  }, 180_000);
});
