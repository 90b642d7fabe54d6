/**
 * Fuzz the safetensors reader: every mutated file must either be rejected with a
 * CheckpointError or open and read every tensor at its declared byte length.
 * SEED=n replays a run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.ts';
import { Rng } from '../../src/io/random.ts';
import { DTYPE_BYTES, numelOf, SafetensorsFile } from '../../src/io/safetensors.ts';
import { rawSafetensors, tempDir } from './helpers.ts';

const SEED = process.env.SEED ? Number(process.env.SEED) : (Date.now() % 1_000_000);
const CASES = 3000;
const tmp = tempDir('fastdllm-fuzz-');
afterAll(tmp.cleanup);

type Entry = { dtype: unknown; shape: unknown; data_offsets: unknown };

/** A valid base file: several dtypes, an empty tensor, a scalar, metadata. */
function baseHeader(): Record<string, unknown> {
  const specs: [string, string, number[]][] = [
    ['emb', 'BF16', [5, 3]], ['w', 'F32', [3, 4]], ['h', 'F16', [7]], ['ids', 'I32', [2]],
    ['mask', 'BOOL', [3]], ['empty', 'F32', [0, 4]], ['scalar', 'F32', []], ['big', 'I64', [2]],
  ];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, dtype, shape] of specs) {
    const bytes = numelOf(shape) * DTYPE_BYTES[dtype as keyof typeof DTYPE_BYTES];
    header[name] = { dtype, shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  return header;
}

function dataBytes(header: Record<string, unknown>): number {
  let max = 0;
  for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') max = Math.max(max, ((v as Entry).data_offsets as number[])[1]);
  return max;
}

const JUNK: unknown[] = [-1, 0, 1, 2, 3, 2.5, -0.5, 1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 32, 'x', '', 'F32', 'BF16', null, true, [], [1], [1, 2], [[1]], {}, { a: 1 }];
const DTYPES = [...Object.keys(DTYPE_BYTES), 'F33', 'bf16', 'F4', 'U128'];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.nextU32() % xs.length];
}
function int(rng: Rng, n: number): number {
  return rng.nextU32() % n;
}

function isIntact(v: unknown): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Entry;
  return Array.isArray(e.shape) && Array.isArray(e.data_offsets) && e.data_offsets.length === 2 &&
    e.data_offsets.every((x) => typeof x === 'number');
}

/** One structural mutation of a parsed header (mutates in place); returns a label. */
function mutateJson(rng: Rng, h: Record<string, unknown>): string {
  // Earlier mutations may have broken entries; later ones work on intact ones.
  const names = Object.keys(h).filter((k) => k !== '__metadata__' && isIntact(h[k]));
  if (names.length === 0) return 'noop';
  const name = pick(rng, names);
  const e = h[name] as Entry;
  switch (int(rng, 12)) {
    case 0: e.dtype = pick(rng, [...DTYPES, ...JUNK]); return 'dtype';
    case 1: e.shape = pick(rng, JUNK); return 'shape-junk';
    case 2: {
      const shape = [...(e.shape as number[])];
      if (shape.length === 0) shape.push(1);
      shape[int(rng, shape.length)] = pick(rng, [0, 1, 2, 5, 7, -1, 1.5, 1e20, 2 ** 31]);
      e.shape = rng.nextF64() < 0.2 ? [...shape, 2] : shape;
      return 'shape-dim';
    }
    case 3: e.data_offsets = pick(rng, JUNK); return 'offsets-junk';
    case 4: {
      const [b, en] = e.data_offsets as number[];
      const d = int(rng, 9) - 4;
      e.data_offsets = rng.nextF64() < 0.5 ? [b + d, en] : [b, en + d];
      return 'offsets-shift';
    }
    case 5: e.data_offsets = [...(e.data_offsets as number[])].reverse(); return 'offsets-swap';
    case 6: {
      // Overlap with a size-consistent range: only the overlap check can catch it.
      const other = h[pick(rng, names)] as Entry;
      const [b] = other.data_offsets as number[];
      const [b0, e0] = e.data_offsets as number[];
      const shift = int(rng, 3) * 2;
      e.data_offsets = [b + shift, b + shift + (e0 - b0)];
      return 'overlap';
    }
    case 7: delete (e as Partial<Entry>)[pick(rng, ['dtype', 'shape', 'data_offsets'] as const)]; return 'delete-field';
    case 8: h[name] = pick(rng, JUNK); return 'entry-junk';
    case 9: h.__metadata__ = pick(rng, [{ a: 1 }, { a: 'b' }, 'm', null, [], { x: null }]); return 'metadata';
    case 10: {
      // Rename (including to prototype-ish names).
      const to = pick(rng, ['__proto__', 'constructor', 'toString', '', 'w', 'emb', '0', 'é']);
      const v = h[name];
      delete h[name];
      h[to] = v;
      return 'rename';
    }
    default: (e.data_offsets as unknown[]).push(0); return 'offsets-3';
  }
}

/** A mutated file's bytes and what was done to it. */
function mutant(rng: Rng, base: Buffer, baseHeaderObj: Record<string, unknown>): { bytes: Buffer; label: string } {
  const headerLen = Number(base.readBigUInt64LE(0));
  const kind = int(rng, 7);
  if (kind === 0) {
    const b = Buffer.from(base);
    const flips = 1 + int(rng, 4);
    for (let i = 0; i < flips; i++) {
      const pos = rng.nextF64() < 0.8 ? int(rng, 8 + headerLen) : int(rng, b.length);
      b[pos] = rng.nextF64() < 0.5 ? b[pos] ^ (1 << int(rng, 8)) : int(rng, 256);
    }
    return { bytes: b, label: 'byte-flip' };
  }
  if (kind === 1) return { bytes: base.subarray(0, int(rng, base.length)), label: 'truncate' };
  if (kind === 2) {
    const b = Buffer.from(base);
    const choices = [BigInt(headerLen + int(rng, 17) - 8), 0n, BigInt(rng.nextU32()), (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32()), BigInt(b.length), BigInt(b.length - 8), 100_000_001n, 2n ** 64n - 1n];
    b.writeBigUInt64LE(BigInt.asUintN(64, pick(rng, choices)), 0);
    return { bytes: b, label: 'header-len' };
  }
  if (kind === 3 || kind === 4) {
    const h = structuredClone(baseHeaderObj);
    const labels: string[] = [];
    const k = 1 + int(rng, 3);
    for (let i = 0; i < k; i++) labels.push(mutateJson(rng, h));
    let data = new Uint8Array(dataBytes(baseHeaderObj));
    if (kind === 4) data = new Uint8Array(Math.max(0, data.length + int(rng, 17) - 8));
    return { bytes: rawSafetensors(h, data), label: `json:${labels.join('+')}${kind === 4 ? '+datalen' : ''}` };
  }
  if (kind === 5) {
    // Text-level edits of the JSON: delete, insert or duplicate characters.
    let text = JSON.stringify(baseHeaderObj);
    const edits = 1 + int(rng, 3);
    for (let i = 0; i < edits; i++) {
      const p = int(rng, text.length);
      const op = int(rng, 3);
      if (op === 0) text = text.slice(0, p) + text.slice(p + 1 + int(rng, 4));
      else if (op === 1) text = text.slice(0, p) + pick(rng, ['{', '}', '[', ']', ',', ':', '"', '1', '-', 'e9', ' ', '\\', '\u00ff', '\ud800']) + text.slice(p);
      else text = text.slice(0, p) + text.slice(p, p + 1 + int(rng, 8)) + text.slice(p);
    }
    return { bytes: rawSafetensors(text, new Uint8Array(dataBytes(baseHeaderObj))), label: 'json-text' };
  }
  // Extend with garbage or append a valid-looking tail.
  const extra = Buffer.alloc(int(rng, 64), int(rng, 256));
  return { bytes: Buffer.concat([base, extra]), label: 'extend' };
}

/** Open `file`; if it opens, every tensor must read at its declared size. Returns 'ok' or 'rejected'. */
function check(file: string, size: number): 'ok' | 'rejected' {
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(file);
  } catch (e) {
    if (e instanceof CheckpointError) return 'rejected';
    throw e;
  }
  try {
    for (const name of f.names()) {
      const t = f.info(name);
      const bytes = numelOf(t.shape) * DTYPE_BYTES[t.dtype];
      if (t.end - t.begin !== bytes || t.end > size || t.begin < 8) throw new Error(`bad info ${JSON.stringify(t)}`);
      if (f.readRaw(name).length !== bytes) throw new Error(`readRaw length of ${name}`);
      if (t.dtype === 'F32' || t.dtype === 'BF16' || t.dtype === 'F16') {
        if (f.readF32(name).length !== numelOf(t.shape)) throw new Error(`readF32 length of ${name}`);
      } else if (t.dtype === 'I32') {
        if (f.readI32(name).length !== numelOf(t.shape)) throw new Error(`readI32 length of ${name}`);
      }
    }
  } finally {
    f.close();
  }
  return 'ok';
}

describe('safetensors fuzz', () => {
  it(`${CASES} mutated files: CheckpointError or a correct read (SEED=${SEED})`, () => {
    const rng = new Rng(SEED);
    const header = baseHeader();
    const base = rawSafetensors(header, new Uint8Array(dataBytes(header)).map((_, i) => (i * 37) & 255));
    const file = path.join(tmp.dir, 'fuzz.safetensors');
    expect(check((fs.writeFileSync(file, base), file), base.length)).toBe('ok');
    const outcomes = { ok: 0, rejected: 0 };
    const failures: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < CASES; i++) {
      const { bytes, label } = mutant(rng, base, header);
      fs.writeFileSync(file, bytes);
      try {
        outcomes[check(file, bytes.length)]++;
      } catch (e) {
        if (failures.length < 10) failures.push(`case ${i} (${label}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    const ms = Date.now() - t0;
    expect(failures, `SEED=${SEED}`).toEqual([]);
    // The mix must exercise both paths.
    expect(outcomes.rejected).toBeGreaterThan(CASES / 4);
    expect(outcomes.ok).toBeGreaterThan(CASES / 20);
    expect(ms).toBeLessThan(10_000);
  });
});
