import { mkdtempSync, writeFileSync, readFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { hasCuda } from '../../src/runtime/cuda/device.ts';
import { loadCases, loadForwardGolden, modelDir, relErr, type GoldenCase } from '../helpers/golden.ts';
import { NO_GPU, itGated } from '../helpers/gates.ts';

const FLAG = { generate: 'none', prefix_cache: 'prefix', dual_cache: 'dual' } as const;

function caseFlags(c: GoldenCase): string[] {
  const p = c.params;
  const f = ['--model', modelDir(c.model), '--gen-length', `${p.gen_length}`, '--steps', `${p.steps}`, '--cache', FLAG[c.routine]];
  if (p.block_length != null) f.push('--block-length', `${p.block_length}`);
  if (p.threshold != null) f.push('--threshold', `${p.threshold}`);
  if (p.factor != null) f.push('--factor', `${p.factor}`);
  if (p.cfg_scale) f.push('--cfg-scale', `${p.cfg_scale}`);
  if (p.alg) f.push('--alg', p.alg);
  if (p.top_p != null) f.push('--top-p', `${p.top_p}`);
  if (p.top_k != null) f.push('--top-k', `${p.top_k}`);
  return f;
}

describe('fastdllm forward', () => {
  it('prints {"shape","logits"} matching the golden logits of every fixture model', () => {
    for (const [name, m] of Object.entries(loadForwardGolden())) {
      const v = m.vectors.find((x) => x.call === 'full')!;
      const r = cli(['forward', '--model', modelDir(name), '--ids', v.input_ids.join(','), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.shape).toEqual(v.logits.shape);
      expect(relErr(out.logits.slice(0, v.logits.head_rows.flat().length), v.logits.head_rows.flat())).toBeLessThan(1e-4);
    }
  });
});

describe('fastdllm generate --json', () => {
  it('gives the golden tokens and nfe for one case of each family and routine', () => {
    for (const fam of ['llada', 'dream'] as const) {
      for (const routine of ['generate', 'prefix_cache', 'dual_cache'] as const) {
        const c = loadCases(fam).find((x) => x.routine === routine && (x.params.mode ?? 'threshold') !== 'fixed' && x.prompt.length === 13)!;
        const r = cli(['generate', ...caseFlags(c), '--prompt-ids', c.prompt.join(','), '--json']);
        expect(r.code, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(out.tokens, c.id).toEqual([c.generated]);
        expect(out.nfe, c.id).toBe(c.nfe);
        expect(Object.keys(out).sort()).toEqual(['nfe', 'text', 'tokens', 'tokensPerForward', 'tokensPerSecond']);
      }
    }
  });

  it('decodes a --batch file of prompts of different lengths, each row as alone', () => {
    const cs = loadCases('llada').filter((x) => x.model === 'llada_s20' && x.routine === 'dual_cache' && x.params.mode === 'threshold' && x.params.threshold === 0.9 && x.params.gen_length === 32 && x.params.block_length === 8);
    const group = [...new Map(cs.map((c) => [c.prompt.length, c])).values()];
    expect(group.length).toBeGreaterThan(1);
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-batch-'));
    const file = join(dir, 'batch.jsonl');
    writeFileSync(file, group.map((c) => JSON.stringify({ promptIds: c.prompt })).join('\n') + '\n');
    const r = cli(['generate', ...caseFlags(group[0]), '--batch', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toEqual(group.map((c) => c.generated));
  });

  it('refuses bad options with the flag named and exit code 2', () => {
    const m = ['--model', modelDir('llada_s3'), '--prompt-ids', '1,2,3'];
    const cases: [string[], RegExp][] = [
      [['--threshold', '0'], /--threshold: must be in \(0, 1\]/],
      [['--factor=-2'], /--factor: must be > 0/],
      [['--threshold', '0.5', '--factor', '1'], /--threshold: threshold and factor are exclusive/],
      [['--gen-length', '30', '--block-length', '8'], /--block-length: genLength 30 is not a multiple/],
      [['--gen-length', '32', '--block-length', '8', '--steps', '6'], /--steps: 6 is not a multiple/],
      [['--mask-id', '100000'], /--mask-id: 100000 is outside the vocabulary/],
      [['--alg', 'entropy'], /--alg: llada has no alg option/],
      [['--cache', 'full'], /--cache: must be one of none, prefix, dual/],
      [['--gen-length', 'x'], /--gen-length: expected an integer/],
      [['--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [flags, pattern] of cases) {
      const r = cli(['generate', ...m, ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    const e = cli(['generate', '--model', modelDir('llada_s3'), '--prompt-ids', '1,2,999']);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/id 999 at index 2 is outside the vocabulary \[0, 256\)/);
  });

  it('refuses a bad option before the weights load (a config.json with no checkpoint beside it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-noweights-'));
    cpSync(join(modelDir('llada_s3'), 'config.json'), join(dir, 'config.json'));
    const cases: [string[], RegExp][] = [
      [['--prompt-ids', '1,2,3', '--threshold', '0.5', '--factor', '1'], /--threshold: threshold and factor are exclusive/],
      [['--prompt-ids', '1,2,3', '--gen-length', '30', '--block-length', '8'], /--block-length: genLength 30 is not a multiple/],
      [['--prompt', 'text', '--top-p', '0.5'], /--top-p: llada samples with Gumbel noise only/],
      [['--prompt-ids', '1,2,3', '--block-cache'], /--block-cache: only Fast-dLLM v2/],
    ];
    for (const [flags, pattern] of cases) {
      const r = cli(['generate', '--model', dir, ...flags]);
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
    // Good options reach the load, which then finds no weights.
    const ok = cli(['generate', '--model', dir, '--prompt-ids', '1,2,3']);
    expect(ok.code).toBe(1);
    expect(ok.stderr).toMatch(/no checkpoint here/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('device selection (--device, --precision)', () => {
  const m = ['--model', modelDir('llada_s3'), '--prompt-ids', '1,2,3', '--gen-length', '8', '--block-length', '8'];

  it('refuses contradictory device flags with the flag named and exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['--device', 'tpu'], /--device: must be one of cpu, cuda, auto/],
      [['--precision', 'f16'], /--precision: must be one of f32, bf16/],
      [['--device', 'cpu', '--precision', 'bf16'], /--precision bf16 runs on the GPU only/],
      [['--device', 'cuda', '--backend', 'reference'], /--backend reference chooses CPU kernels; it cannot go with --device cuda/],
    ];
    for (const [flags, pattern] of cases) {
      const r = cli(['generate', ...m, ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
    }
  });

  it('--device cpu and the default auto give the same tokens; auto says where it ran and why', () => {
    const cpu = cli(['generate', ...m, '--device', 'cpu', '--json']);
    expect(cpu.code, cpu.stderr).toBe(0);
    const auto = cli(['generate', ...m, '--show-speed']);
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).toMatch(hasCuda() ? /^device: cuda \[cuda-f32\] auto: / : /^device: cpu \[(native|reference)\] auto: no usable CUDA GPU \(.+\); running on the CPU/m);
    expect(auto.stdout.trim()).toBe(JSON.parse(cpu.stdout).tokens[0].join(','));
  });

  itGated(NO_GPU, '--device cuda without a GPU is a clear error, not a crash', () => {
    for (const cmd of [['generate', ...m], ['forward', '--model', modelDir('llada_s3'), '--ids', '1,2,3']]) {
      const r = cli([...cmd, '--device', 'cuda']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/--device cuda: no usable CUDA GPU: /);
    }
  });
});

describe('fastdllm info and random-checkpoint', () => {
  it('writes a random checkpoint of a config, which info and forward then read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-rand-'));
    cpSync(join(modelDir('dream_s20'), 'config.json'), join(dir, 'src.json'));
    const out = join(dir, 'ckpt');
    const w = cli(['random-checkpoint', '--config', join(dir, 'src.json'), '--out', out, '--dtype', 'bf16', '--seed', '7']);
    expect(w.code, w.stderr).toBe(0);
    const info = cli(['info', '--model', out, '--json']);
    expect(info.code, info.stderr).toBe(0);
    const j = JSON.parse(info.stdout);
    expect(j.architecture).toBe('dream');
    expect(j.parameters).toBe(575104);
    expect(j.dtypes).toEqual(['BF16']);
    const f = cli(['forward', '--model', out, '--ids', '1,2,3', '--json']);
    expect(f.code, f.stderr).toBe(0);
    expect(JSON.parse(f.stdout).shape).toEqual([3, 512]);
    // the same seed writes the same bytes
    const again = join(dir, 'again');
    cli(['random-checkpoint', '--config', join(dir, 'src.json'), '--out', again, '--dtype', 'bf16', '--seed', '7']);
    expect(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(out, 'model.safetensors')))).toBe(true);
  });

  it('names the file and key of a bad config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-bad-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt9' }));
    const r = cli(['info', '--model', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json: unknown architecture \(model_type "gpt9"\)/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llada', d_model: 64 }));
    expect(cli(['info', '--model', dir]).stderr).toMatch(/config\.json: missing key 'n_heads'/);
  });
});
