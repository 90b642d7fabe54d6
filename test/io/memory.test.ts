/**
 * The reader must stay lazy: opening a multi-GB checkpoint and reading one tensor costs
 * about that tensor, not the file. The file is sparse (header + ftruncate), so it costs no
 * disk; reads of the holes return zeros.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { SafetensorsFile } from '../../src/io/safetensors.ts';
import { buildHeader, type TensorSpec } from '../../src/io/safetensors-writer.ts';
import { tempDir } from './helpers.ts';

const MB = 1024 * 1024;
const tmp = tempDir('fastdllm-mem-');
afterAll(tmp.cleanup);

const SPECS: TensorSpec[] = [
  { name: 'small', dtype: 'F32', shape: [16] },
  { name: 'mid', dtype: 'F32', shape: [4096, 4096] }, // 64 MB
  { name: 'mid.bf16', dtype: 'BF16', shape: [4096, 4096] }, // 32 MB on disk, 64 MB as f32
  ...[0, 1, 2, 3].map((i): TensorSpec => ({ name: `big.${i}`, dtype: 'BF16', shape: [32768, 16384] })), // 1 GiB each
  { name: 'last', dtype: 'F32', shape: [3, 5] },
];

function sparseCheckpoint(): { dir: string; file: string; size: number; dataBytes: number } {
  const dir = path.join(tmp.dir, 'ckpt');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'model.safetensors');
  const { header, dataBytes } = buildHeader(SPECS, { format: 'pt' });
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, header);
  fs.ftruncateSync(fd, header.length + dataBytes);
  fs.closeSync(fd);
  return { dir, file, size: header.length + dataBytes, dataBytes };
}

const rss = (): number => process.memoryUsage().rss;

describe('lazy reads of a multi-GB sparse checkpoint', () => {
  it('memory tracks the tensors read, not the file', () => {
    const { dir, file, size, dataBytes } = sparseCheckpoint();
    expect(size).toBeGreaterThan(4 * 1024 * MB);
    // Warm up code paths (module init, f16 table, ...) so they do not count below.
    const warm = SafetensorsFile.open(file);
    warm.readF32('small');
    warm.close();

    const r0 = rss();
    const ckpt = Checkpoint.open(dir);
    expect(ckpt.totalBytes()).toBe(dataBytes);
    const small = ckpt.readF32('small');
    const last = ckpt.readF32('last'); // at a > 4 GiB offset
    expect(small.length).toBe(16);
    expect([...last]).toEqual(new Array(15).fill(0));
    const r1 = rss();
    console.log(`open + small reads: rss +${((r1 - r0) / MB).toFixed(1)} MB for a ${(size / MB).toFixed(0)} MB file`);
    expect(r1 - r0).toBeLessThan(64 * MB);

    const mid = ckpt.readF32('mid');
    const r2 = rss();
    console.log(`64 MB F32 tensor: rss +${((r2 - r1) / MB).toFixed(1)} MB`);
    expect(mid.length).toBe(4096 * 4096);
    expect(r2 - r1).toBeGreaterThan(48 * MB); // the measurement does see the tensor
    expect(r2 - r1).toBeLessThan(64 * MB + 32 * MB);

    // bf16 is widened in place: no second buffer beside the 64 MB result.
    const midBf16 = ckpt.readF32('mid.bf16');
    const r3 = rss();
    console.log(`32 MB BF16 tensor read as 64 MB f32: rss +${((r3 - r2) / MB).toFixed(1)} MB`);
    expect(midBf16.length).toBe(4096 * 4096);
    expect(midBf16[12345]).toBe(0);
    expect(r3 - r2).toBeLessThan(64 * MB + 24 * MB);

    expect(r3 - r0).toBeLessThan(200 * MB + 128 * MB);
    ckpt.close();
  });
});
