/**
 * The reader must stay lazy: opening a multi-GB checkpoint and reading one tensor costs
 * about that tensor, not the file. The file is sparse (header + ftruncate), so it costs no
 * disk; reads of the holes return zeros.
 */
import * as fs from 'node:fs';
import fsDefault from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
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

/**
 * Counts the bytes the reader asks the OS for (positioned reads): the exact, load-independent
 * measure of laziness. RSS is logged beside it and bounded only far below the file's size,
 * where a machine's load cannot move it (a bound of tens of MB flaked on a loaded machine).
 */
function countReads(): { bytes: () => number; restore: () => void } {
  let total = 0;
  const real = fsDefault.readSync;
  const spy = vi.spyOn(fsDefault, 'readSync').mockImplementation(((...a: Parameters<typeof fs.readSync>) => {
    const n = (real as (...x: unknown[]) => number)(...a);
    total += n;
    return n;
  }) as typeof fs.readSync);
  syncBuiltinESMExports(); // `import * as fs` bindings see the spy
  return { bytes: () => total, restore: () => { spy.mockRestore(); syncBuiltinESMExports(); } };
}

describe('lazy reads of a multi-GB sparse checkpoint', () => {
  it('the bytes read and the memory track the tensors read, not the file', () => {
    const { dir, file, size, dataBytes } = sparseCheckpoint();
    expect(size).toBeGreaterThan(4 * 1024 * MB);
    // Warm up code paths (module init, f16 table, ...) so they do not count below.
    const warm = SafetensorsFile.open(file);
    warm.readF32('small');
    warm.close();

    const reads = countReads();
    try {
      const r0 = rss();
      const ckpt = Checkpoint.open(dir);
      const headerBytes = size - dataBytes;
      expect(reads.bytes()).toBeLessThanOrEqual(headerBytes); // opening reads the header only
      expect(ckpt.totalBytes()).toBe(dataBytes);
      const small = ckpt.readF32('small');
      const last = ckpt.readF32('last'); // at a > 4 GiB offset
      expect(small.length).toBe(16);
      expect([...last]).toEqual(new Array(15).fill(0));
      expect(reads.bytes()).toBeLessThanOrEqual(headerBytes + (16 + 15) * 4);
      const mid = ckpt.readF32('mid');
      expect(mid.length).toBe(4096 * 4096);
      const midBf16 = ckpt.readF32('mid.bf16');
      expect(midBf16.length).toBe(4096 * 4096);
      expect(midBf16[12345]).toBe(0);
      // Exactly the three tensors' bytes (64 MB F32 + 32 MB BF16 + 31 floats) beyond the header.
      expect(reads.bytes()).toBeLessThanOrEqual(headerBytes + (16 + 15) * 4 + 4096 * 4096 * 4 + 4096 * 4096 * 2);
      expect(reads.bytes()).toBeGreaterThanOrEqual((16 + 15) * 4 + 4096 * 4096 * 6);
      const r1 = rss();
      console.log(`${(size / MB).toFixed(0)} MB file: read ${(reads.bytes() / MB).toFixed(1)} MB, rss +${((r1 - r0) / MB).toFixed(1)} MB holding 128 MB of f32 results`);
      // Reading the file whole would add over 4 GB; the results themselves are 128 MB.
      expect(r1 - r0).toBeLessThan(1024 * MB);
      ckpt.close();
    } finally {
      reads.restore();
    }
  });
});
