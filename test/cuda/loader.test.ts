import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomCheckpointCommand } from '../../src/cli/commands/random-checkpoint.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { withModelSource } from '../../src/runtime/model-source.ts';
import { loadCudaModel } from '../../src/runtime/cuda/model.ts';
import { NullDevice } from '../../src/runtime/cuda/null-device.ts';
import { packWeight, PackScratch, streamPack, toBf16 } from '../../src/runtime/cuda/weights.ts';
import { readerOfWeightSource } from '../../src/runtime/tensor-reader.ts';
import { modelDir } from '../helpers/golden.ts';
import { forwardFull } from '../../src/runtime/forward.ts';
import { EmulatedDevice } from './emulated-device.ts';

/**
 * The GPU loader (issue 10, items 4 and 6): a checkpoint's dtype sets the default precision, and
 * weights stream to the device chunk by chunk in their stored dtype, so the host holds about one
 * chunk, never a tensor widened to f32 nor the model. Counted in bytes the loader holds (not RSS,
 * which is noisy); bench/loader.bench.ts measures RSS at LLaDA-8B's size.
 */
let tmp: string;
const quiet = async (argv: string[]) => {
  const w = process.stderr.write;
  process.stderr.write = () => true;
  try {
    expect(await randomCheckpointCommand(argv)).toBe(0);
  } finally {
    process.stderr.write = w;
  }
};
/** A random checkpoint of a fixture model's config (layers replaced when given) in `dtype`. */
async function randomCheckpoint(name: string, dtype: 'f32' | 'bf16', layers?: number): Promise<string> {
  const out = join(tmp, `${name}-${dtype}-${layers ?? 'same'}`);
  let config = join(modelDir(name), 'config.json');
  if (layers) {
    const c = JSON.parse(readFileSync(config, 'utf8'));
    for (const k of ['n_layers', 'num_hidden_layers']) if (k in c) c[k] = layers;
    config = join(tmp, `${name}-${layers}.json`);
    writeFileSync(config, JSON.stringify(c));
  }
  await quiet(['--config', config, '--out', out, '--dtype', dtype, '--seed', '3']);
  return out;
}

beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'fastdllm-loader-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const emulatedLoad = async (dir: string, precision?: 'f32' | 'bf16') => {
  const dev = new EmulatedDevice();
  const m = await loadCudaModel(dir, { precision, context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(m.executor.plan);
  return { m, dev };
};

describe('default precision follows the checkpoint (item 4)', () => {
  it('a bf16 checkpoint runs bf16 unless f32 is asked; an f32 one runs f32', async () => {
    for (const name of ['llada_s20', 'dream_s20']) {
      const bf = await randomCheckpoint(name, 'bf16');
      const a = await emulatedLoad(bf);
      expect(a.m.backend, name).toBe('cuda-bf16');
      expect(a.m.precision.reason).toMatch(/stored BF16/);
      a.m.executor.dispose();
      const b = await emulatedLoad(bf, 'f32');
      expect(b.m.backend, name).toBe('cuda-f32');
      expect(b.m.precision.reason).toMatch(/asked/);
      b.m.executor.dispose();
      const c = await emulatedLoad(modelDir(name));
      expect(c.m.backend, name).toBe('cuda-f32');
      expect(c.m.precision.reason).toMatch(/stored F32/);
      c.m.executor.dispose();
    }
  });

  it('random-checkpoint writes the dtype it stored into config.json (torch_dtype)', async () => {
    const bf = await randomCheckpoint('dream_s20', 'bf16');
    expect(JSON.parse(readFileSync(join(bf, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
  });
});

describe('streamed packing (item 6)', () => {
  it('gives packWeight\'s layout byte for byte, from f32 and bf16 storage, in chunks of a few rows', async () => {
    for (const name of ['llada_s20', 'dream_s20']) {
      for (const stored of ['f32', 'bf16'] as const) {
        const dir = stored === 'f32' ? modelDir(name) : await randomCheckpoint(name, 'bf16');
        await withModelSource(dir, undefined, async ({ graph, weights, reader }) => {
          const shapes = new Map(graph.ofKind('param').map((n) => [n.attrs.name as string, n.shape as number[]]));
          for (const precision of ['f32', 'bf16'] as const) {
            const plan = planCuda(graph, { precision, headOutputs: 'both' });
            for (const p of plan.packs) {
              const want = packWeight(p, (n) => weights(n, shapes.get(n)!));
              const wantBytes = new Uint8Array((p.dtype === 'bf16' ? toBf16(want) : want).buffer);
              for (const chunk of [700, 1 << 20]) {
                const got = new Uint8Array(wantBytes.length);
                const scratch = new PackScratch();
                streamPack(p, reader, (n) => shapes.get(n)!, (off, d) => got.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off), scratch, chunk);
                expect(Buffer.compare(got, wantBytes), `${name} ${stored} -> ${p.key} (chunk ${chunk})`).toBe(0);
                // The scratch holds one chunk (whole RoPE heads; two rows at least when interleaved), not the pack.
                const rowBytes = Math.max(1, p.cols) * 4;
                const rope = Math.max(1, ...p.parts.map((x) => x.ropeHeadDim));
                expect(scratch.bytes, p.key).toBeLessThanOrEqual(2 * Math.max(chunk, 2 * rope * rowBytes) + 4 * rowBytes);
              }
            }
          }
        });
      }
    }
  });

  it('a bf16 checkpoint loads holding at most about one tensor on the host, whatever the model size', async () => {
    const dir = await randomCheckpoint('llada_s20', 'bf16', 12);
    const dev = new NullDevice();
    const m = await loadCudaModel(dir, { context: dev.context, compile: false });
    const st = m.executor.loadStats!;
    expect(m.backend).toBe('cuda-bf16');
    // Everything packed went up once, in its device dtype.
    expect(st.uploadedBytes).toBe(m.executor.plan.packs.reduce((s, p) => s + p.rows * Math.max(1, p.cols) * (p.dtype === 'bf16' ? 2 : 4), 0));
    expect(dev.uploadedBytes).toBe(st.uploadedBytes);
    // Held at once: one pack's output (chunks of 4 MiB hold these small packs whole) and a part's stored bytes.
    expect(st.hostPeakBytes).toBeLessThanOrEqual(1.5 * st.largestPackBytes);
    expect(st.hostPeakBytes * 8).toBeLessThan(st.uploadedBytes);
    m.executor.dispose();
    // The f32 WeightSource path (tests' arrays) holds whole tensors, and says so.
    await withModelSource(dir, undefined, async ({ graph, weights }) => {
      const plan = planCuda(graph, { precision: 'bf16' });
      const r = readerOfWeightSource(weights);
      const { uploadWeights } = await import('../../src/runtime/cuda/setup.ts');
      const stats = { hostPeakBytes: 0, uploadedBytes: 0, largestPackBytes: 0 };
      uploadWeights(new NullDevice().context, plan, r, undefined, stats);
      expect(stats.uploadedBytes).toBe(st.uploadedBytes);
      expect(stats.hostPeakBytes).toBeGreaterThan(st.hostPeakBytes);
    });
  });

  it('a streamed bf16 checkpoint decodes on the emulated device as the same weights handed over as f32 arrays', async () => {
    const dir = await randomCheckpoint('llada_s20', 'bf16');
    const { m } = await emulatedLoad(dir, 'bf16');
    const { createCudaExecutor } = await import('../../src/runtime/cuda/executor.ts');
    const dev = new EmulatedDevice();
    await withModelSource(dir, undefined, async (src) => {
      const ex = await createCudaExecutor(src.graph, src.weights, { precision: 'bf16', context: dev.context, compile: false, headOutputs: 'both' });
      dev.registerPlan(ex.plan);
      const rows = [[1, 2, 3, 4, 5, 6, 7]];
      const a = forwardFull(m, rows).data, b = forwardFull({ ...m, executor: ex }, rows).data;
      expect(a.length).toBeGreaterThan(0);
      expect(Buffer.compare(new Uint8Array(a.buffer), new Uint8Array(b.buffer))).toBe(0);
      ex.dispose();
    });
    m.executor.dispose();
  });
});
