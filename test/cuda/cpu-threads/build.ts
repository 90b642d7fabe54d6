import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMPLATE_DIR } from '../../../src/codegen/templates.ts';
import { templateDefines } from '../../../src/codegen/cuda/template-constants.ts';
import { findCxx } from '../../../src/runtime/native/cpu-backend.ts';

/** The C++ compiler the CPU-thread harnesses build with (null: those tests are skipped). */
export const cxx = findCxx();

/**
 * Compiles a harness (C++ source text, including "cuda-shim.h" and the templates it runs) into a
 * temporary folder; returns the binary's path.
 */
export function buildHarness(name: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), `fastdllm-${name}-`));
  // The shared mode / op numbers, as the codegen prepends them to every CUDA module.
  writeFileSync(join(dir, `${name}.cpp`), templateDefines() + source);
  const bin = join(dir, name);
  const r = spawnSync(cxx!.path, ['-std=c++20', '-O1', '-pthread', '-w', '-I', import.meta.dirname, '-I', TEMPLATE_DIR, join(dir, `${name}.cpp`), '-o', bin], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name} harness build failed:\n${r.stderr.slice(0, 4000)}`);
  return bin;
}

/** Runs a harness on its stdin bytes; returns stdout. */
export function runHarness(bin: string, input: Buffer): Uint8Array {
  const r = spawnSync(bin, [], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${bin} exited ${r.status}: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** Bytes of a typed array, for a harness's stdin. */
export const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Buffers as read_buffers (cuda-shim.h) reads them: an int64 length, then the bytes (0: null). */
export function lengthPrefixed(bufs: (Uint8Array | null)[]): Buffer[] {
  return bufs.flatMap((b) => [bytes(BigInt64Array.of(BigInt(b?.length ?? 0))), ...(b ? [Buffer.from(b)] : [])]);
}

/** Splits a harness's output into the buffers write_buffers wrote back (same lengths as sent). */
export function splitLike(out: Uint8Array, bufs: (Uint8Array | null)[]): Uint8Array[] {
  let o = 0;
  return bufs.map((b) => { const s = out.slice(o, o + (b?.length ?? 0)); o += b?.length ?? 0; return s; });
}
