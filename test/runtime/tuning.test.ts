import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.ts';
import { GraphExecutor } from '../../src/runtime/executor.ts';
import { findCxx, nativeCpuBackend } from '../../src/runtime/native/cpu-backend.ts';
import { gemmSpace, validGemm, DEFAULT_GEMM } from '../../src/codegen/cpu/tuning.ts';
import { renderCpuModule } from '../../src/codegen/cpu/render.ts';
import { tuneGemms } from '../../src/runtime/tuner.ts';
import { loadCpuTuning } from '../../src/runtime/cpu-tuning-file.ts';
import { TEST_SEED, mulberry, randomF32 } from '../helpers/random.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

describeGated(CXX, 'CPU GEMM tuning', () => {
  it('every config of the space is valid and gives bit-identical results', async () => {
    expect(validGemm(DEFAULT_GEMM)).toBe(true);
    const rnd = mulberry(TEST_SEED);
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['B', 37, 300]);
    b.output('y', b.matmul(x, b.param('w', [70, 300]), { bias: b.param('bias', [70]) }));
    const g = b.build();
    const w = { w: randomF32(70 * 300, rnd), bias: randomF32(70, rnd) } as Record<string, Float32Array>;
    const inputs = { x: { data: randomF32(2 * 37 * 300, rnd), shape: [2, 37, 300] } };
    const outputs: Float32Array[] = [];
    expect(gemmSpace(300).every(validGemm)).toBe(true);
    // one compile per config: the default and two far from it (k-block 64 with 4-row tiles, 128 with 6)
    for (const cfg of [DEFAULT_GEMM, { kb: 64, mr: 4 }, { kb: 128, mr: 6 }]) {
      const tuning = { n70_k300: cfg };
      if (cfg !== DEFAULT_GEMM) expect(renderCpuModule(g, tuning).source).toContain(`matmul_p_n70_k300_bias_kb${cfg.kb}_mr${cfg.mr}`);
      const ex = await GraphExecutor.create(g, nativeCpuBackend(findCxx()!, undefined, tuning), (n) => w[n]);
      outputs.push(ex.run(inputs).y.data as Float32Array);
    }
    for (const o of outputs) expect(Buffer.from(o.buffer).equals(Buffer.from(outputs[0].buffer))).toBe(true);
  });

  it('the tuner times the space and ranks it; a bad tuning file is ignored with a warning', async () => {
    const [r] = await tuneGemms([{ n: 40, k: 96 }], { tokens: [7], reps: 3, cxx: findCxx()! });
    expect(r.trials).toHaveLength(gemmSpace(96).length);
    expect(r.trials.every((t, i) => i === 0 || t.ms >= r.trials[i - 1].ms)).toBe(true);
    expect(r.best).toEqual(r.trials[0].config);
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-tune-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(loadCpuTuning(bad)).toEqual({});
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/ignoring unreadable tuning file/);
    warn.mockRestore();
    writeFileSync(bad, JSON.stringify({ gemm: { n1_k1: { kb: 0, mr: 9 }, n2_k2: { kb: 64, mr: 4 }, junk: { kb: 1, mr: 1 } } }));
    expect(loadCpuTuning(bad)).toEqual({ n2_k2: { kb: 64, mr: 4 } });
  });
});
