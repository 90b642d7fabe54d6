import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { FIXTURES, modelDir } from '../helpers/golden.ts';
import { NVCC, itGated } from '../helpers/gates.ts';

const LLADA_8B = join(FIXTURES, 'configs', 'llada-8b-instruct.json');

describe('fastdllm inspect (no GPU)', () => {
  it('prints a kernel\'s CUDA source and IR, and names the kernels when --kernel matches none', () => {
    const cu = cli(['inspect', '--config', LLADA_8B, '--kernel', 'select_scatter', '--emit', 'cu']);
    expect(cu.code, cu.stderr).toBe(0);
    expect(cu.stdout).toContain('fd::select_scatter<256>(');
    expect(cu.stdout).toContain('// ---- fd_decode.cuh');
    const ir = cli(['inspect', '--config', LLADA_8B, '--kernel', 'select_scatter', '--emit', 'ir']);
    expect(ir.code, ir.stderr).toBe(0);
    for (const op of ['select_topk', 'select_threshold', 'select_factor', 'scatter_tokens']) expect(ir.stdout).toContain(op);
    expect(ir.stdout).toContain('"value":"-Infinity"');
    const head = cli(['inspect', '--config', LLADA_8B, '--kernel', 'attn_', '--emit', 'ir']);
    expect(head.code, head.stderr).toBe(0);
    expect(head.stdout).toMatch(/= attention\(/);
    const bad = cli(['inspect', '--config', LLADA_8B, '--kernel', 'no_such_kernel']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("no kernel named 'no_such_kernel'");
    expect(bad.stderr).toContain('decode_window');
  });

  it('--precision defaults to what a GPU load picks: the checkpoint\'s dtype with --model, bf16 with --config', () => {
    const precisionOf = (args: string[]) => {
      const r = cli(['inspect', ...args, '--perf', '--gpu', 'h100', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).precision;
    };
    expect(precisionOf(['--model', modelDir('llada_s20')])).toBe('f32'); // stored F32
    expect(precisionOf(['--model', modelDir('llada_s20'), '--precision', 'bf16'])).toBe('bf16');
    expect(precisionOf(['--config', LLADA_8B])).toBe('bf16');
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-inspect-bf16-'));
    try {
      const w = cli(['random-checkpoint', '--config', join(modelDir('llada_s20'), 'config.json'), '--out', dir, '--dtype', 'bf16']);
      expect(w.code, w.stderr).toBe(0);
      expect(precisionOf(['--model', dir])).toBe('bf16');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  itGated(NVCC, '--json lists the decode step\'s kernels with grids and resources, the device step\'s own included', () => {
    const r = cli(['inspect', '--model', modelDir('llada_s20'), '--device-arch', 'sm_80', '--precision', 'f32', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { kernels } = JSON.parse(r.stdout) as { kernels: { name: string; fuses: string[]; grid: number[]; block: number[]; registers: number; spillStores: number; spillLoads: number }[] };
    const names = kernels.map((k) => k.name);
    expect(names[0]).toBe('decode_window');
    expect(names.at(-1)).toBe('select_scatter');
    expect(names.some((n) => n.startsWith('attn_'))).toBe(true);
    for (const k of kernels) {
      expect(k.registers, k.name).toBeGreaterThan(0);
      expect(k.spillStores + k.spillLoads, k.name).toBe(0);
      expect(k.grid.every((g) => g >= 1), k.name).toBe(true);
    }
    expect(kernels.find((k) => k.name === 'select_scatter')!.block).toEqual([256, 1, 1]);
    // Dream selects from logits by its algs: no device step kernels.
    const d = cli(['inspect', '--model', modelDir('dream_s20'), '--device-arch', 'sm_80', '--precision', 'f32', '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).kernels.map((k: { name: string }) => k.name)).not.toContain('select_scatter');
  }, 300_000);
});
