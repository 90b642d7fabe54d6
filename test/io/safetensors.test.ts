import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.ts';
import { bf16BitsToF32, f16BitsToF32, f16Table32, f32ToBf16Bits, f32ToF16Bits } from '../../src/util/half.ts';
import { hashSeed, randomCheckpointFill, Rng, seededNormal } from '../../src/io/random.ts';
import { SafetensorsFile } from '../../src/io/safetensors.ts';
import { buildHeader, WRITE_CHUNK_ELEMENTS, writeSafetensors, type TensorSpec } from '../../src/io/safetensors-writer.ts';
import { expectCheckpointError, rawSafetensors, tempDir } from './helpers.ts';

const SEED = process.env.SEED ? Number(process.env.SEED) : (Date.now() % 1_000_000);
const tmp = tempDir();
afterAll(tmp.cleanup);
let fileNo = 0;
const fresh = (name = 'x.safetensors'): string => path.join(tmp.dir, `${fileNo++}-${name}`);

function writeRaw(bytes: Uint8Array, name?: string): string {
  const p = fresh(name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Reference f16 decode by arithmetic, independent of the bit twiddling under test. */
function f16Ref(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

describe('half conversions', () => {
  it('bf16 rounds to nearest even (hand computed)', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -8, 0x3f80], // exact tie, even below
      [1 + 3 * 2 ** -8, 0x3f82], // exact tie, even above
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], // just above the tie
      [Math.fround(Math.PI), 0x4049], // 0x40490FDB: low half below the tie
      [-2.5, 0xc020],
      [3.4028234663852886e38, 0x7f80], // f32 max rounds to inf
      [-0, 0x8000],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
    ];
    for (const [x, bits] of cases) expect(f32ToBf16Bits(x), `bf16(${x})`).toBe(bits);
    expect(bf16BitsToF32(0x3f82)).toBe(1.015625);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
  });

  it('f16 decode matches arithmetic for all 65536 patterns; encode inverts it', () => {
    const table = f16Table32();
    for (let h = 0; h < 65536; h++) {
      const want = f16Ref(h);
      if (Number.isNaN(want)) {
        expect(Number.isNaN(table[h])).toBe(true);
        expect(Number.isNaN(f16BitsToF32(h))).toBe(true);
        continue;
      }
      if (table[h] !== want || !Object.is(table[h], want)) expect(table[h], `h=${h.toString(16)}`).toBe(want);
      if (f32ToF16Bits(want) !== h) expect(f32ToF16Bits(want), `h=${h.toString(16)}`).toBe(h);
    }
  });

  it('f16 encode: ties to even, overflow, subnormals', () => {
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie between max and inf goes to inf (even)
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie to even zero
    expect(f32ToF16Bits(3 * 2 ** -26)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp ties to even 2
    expect(f32ToF16Bits(1023 * 2 ** -24)).toBe(0x03ff);
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400);
    expect(f32ToF16Bits(1 / 3)).toBe(0x3555);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(1e-10)).toBe(0);
    expect(f32ToF16Bits(-1e10)).toBe(0xfc00);
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00);
  });
});

describe('random', () => {
  it('is deterministic per seed and roughly standard normal', () => {
    const a = seededNormal(42);
    const b = seededNormal(42);
    const xs = Array.from({ length: 20000 }, () => a());
    expect(xs.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => b()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const varc = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(varc - 1)).toBeLessThan(0.05);
    expect(new Rng(1).nextU32()).not.toBe(new Rng(2).nextU32());
    expect(hashSeed(1, 'a')).not.toBe(hashSeed(1, 'b'));
  });

  it('randomCheckpointFill does not depend on chunking', () => {
    const specs = [{ name: 'w', init: { kind: 'normal' as const, std: 0.5 } }, { name: 'n', init: { kind: 'ones' as const } }];
    const f1 = randomCheckpointFill(7, specs);
    const f2 = randomCheckpointFill(7, specs);
    const whole = new Float32Array(101);
    f1('w', 0, whole);
    const parts = new Float32Array(101);
    f2('w', 0, parts.subarray(0, 33));
    f2('w', 33, parts.subarray(33));
    expect(parts).toEqual(whole);
    const ones = new Float32Array(5);
    f1('n', 0, ones);
    expect([...ones]).toEqual([1, 1, 1, 1, 1]);
    expect(() => f1('w', 5, new Float32Array(3))).toThrow(/out of order/);
  });
});

describe('write → read round trip', () => {
  const shapes = [[1], [7], [3, 5, 7], [33, 129], [], [0, 5], [2, 1, 1, 3]];
  const dtypes = ['F32', 'BF16', 'F16'] as const;
  const specs: TensorSpec[] = [];
  for (const dtype of dtypes) shapes.forEach((shape, i) => specs.push({ name: `t.${dtype}.${i}`, dtype, shape }));

  it(`reads back what was written (seed ${SEED})`, () => {
    const values = new Map<string, Float32Array>();
    const rng = new Rng(SEED);
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      values.set(s.name, Float32Array.from({ length: n }, () => rng.normal() * 3));
    }
    const file = fresh();
    writeSafetensors(file, specs, (name, off, chunk) => chunk.set(values.get(name)!.subarray(off, off + chunk.length)), { note: 'hi' });
    const f = SafetensorsFile.open(file);
    try {
      expect(f.metadata).toEqual({ note: 'hi' });
      expect(f.names()).toEqual(specs.map((s) => s.name));
      for (const s of specs) {
        const info = f.info(s.name);
        expect(info.shape).toEqual(s.shape);
        expect(info.dtype).toBe(s.dtype);
        const got = f.readF32(s.name);
        const src = values.get(s.name)!;
        const want = src.map((x) => (s.dtype === 'F32' ? x : s.dtype === 'BF16' ? bf16BitsToF32(f32ToBf16Bits(x)) : f16BitsToF32(f32ToF16Bits(x))));
        expect(got, s.name).toEqual(want);
        // Output buffer supplied by the caller, offset inside a larger buffer.
        const big = new Float32Array(src.length + 3);
        const out = big.subarray(3);
        expect(f.readF32(s.name, out)).toBe(out);
        expect(out).toEqual(want);
        expect(f.readRaw(s.name).length).toBe(info.end - info.begin);
      }
    } finally {
      f.close();
    }
  });

  it('stores the hand-computed bf16 and f16 bit patterns', () => {
    const file = fresh();
    const vals = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, Infinity, NaN, 65520, 2 ** -25];
    writeSafetensors(file, [{ name: 'b', dtype: 'BF16', shape: [7] }, { name: 'h', dtype: 'F16', shape: [7] }], (_n, _o, c) => c.set(vals));
    const f = SafetensorsFile.open(file);
    const b = f.readRaw('b');
    const h = f.readRaw('h');
    f.close();
    const bw = [0x3f80, 0x3f82, 0x8000, 0x7f80];
    bw.forEach((w, i) => expect(b.readUInt16LE(2 * i)).toBe(w));
    expect(b.readUInt16LE(8) & 0x7fc0).toBe(0x7fc0);
    // f16 has 10 mantissa bits: 1+2^-8 and 1+3*2^-8 are exact there
    const hw = [0x3c04, 0x3c0c, 0x8000, 0x7c00];
    hw.forEach((w, i) => expect(h.readUInt16LE(2 * i)).toBe(w));
    expect(h.readUInt16LE(8) & 0x7e00).toBe(0x7e00);
    expect(h.readUInt16LE(10)).toBe(0x7c00); // 65520 ties to inf
    expect(h.readUInt16LE(12)).toBe(0);
  });

  it('reads raw f16 special values from bytes', () => {
    const bits = [0x7c00, 0xfc00, 0x7e00, 0x0001, 0x03ff, 0x8000, 0x0400, 0x7bff, 0x3555, 0xc000];
    const data = Buffer.alloc(bits.length * 2);
    bits.forEach((b, i) => data.writeUInt16LE(b, 2 * i));
    const file = writeRaw(rawSafetensors({ h: { dtype: 'F16', shape: [bits.length], data_offsets: [0, data.length] } }, data));
    const f = SafetensorsFile.open(file);
    const got = [...f.readF32('h')];
    f.close();
    expect(got[0]).toBe(Infinity);
    expect(got[1]).toBe(-Infinity);
    expect(Number.isNaN(got[2])).toBe(true);
    expect(got[3]).toBe(2 ** -24);
    expect(got[4]).toBe(1023 * 2 ** -24);
    expect(Object.is(got[5], -0)).toBe(true);
    expect(got[6]).toBe(2 ** -14);
    expect(got[7]).toBe(65504);
    expect(got[8]).toBe(0.333251953125);
    expect(got[9]).toBe(-2);
  });

  it('reads I32, refuses readF32 of other dtypes, accepts all known dtypes', () => {
    const i32 = Int32Array.from([1, -2, 2147483647]);
    const data = Buffer.concat([Buffer.from(i32.buffer), Buffer.alloc(16), Buffer.alloc(3)]);
    const file = writeRaw(rawSafetensors({
      i: { dtype: 'I32', shape: [3], data_offsets: [0, 12] },
      l: { dtype: 'I64', shape: [2], data_offsets: [12, 28] },
      m: { dtype: 'BOOL', shape: [3], data_offsets: [28, 31] },
    }, data));
    const f = SafetensorsFile.open(file);
    expect([...f.readI32('i')]).toEqual([1, -2, 2147483647]);
    expectCheckpointError(() => f.readF32('l'), file, "'l'", 'I64', 'readRaw');
    expectCheckpointError(() => f.readI32('m'), file, "'m'", 'BOOL');
    expect(f.readRaw('m').length).toBe(3);
    expectCheckpointError(() => f.info('nope'), file, "'nope'");
    expect(f.has('i')).toBe(true);
    expect(f.has('nope')).toBe(false);
    expectCheckpointError(() => f.readF32('i', new Float32Array(2)), file, "'i'");
    f.close();
    f.close();
    expectCheckpointError(() => f.readRaw('m'), file, "'m'", 'close');
  });

  it('feeds fill chunks of at most WRITE_CHUNK_ELEMENTS, in order', () => {
    const n = WRITE_CHUNK_ELEMENTS + 5;
    const calls: [string, number, number][] = [];
    const file = fresh();
    writeSafetensors(file, [{ name: 'a', dtype: 'BF16', shape: [n] }, { name: 'b', dtype: 'F32', shape: [3] }], (name, off, c) => {
      calls.push([name, off, c.length]);
      for (let i = 0; i < c.length; i++) c[i] = ((off + i) % 251) - 125;
    });
    expect(calls).toEqual([['a', 0, WRITE_CHUNK_ELEMENTS], ['a', WRITE_CHUNK_ELEMENTS, 5], ['b', 0, 3]]);
    const f = SafetensorsFile.open(file);
    const a = f.readF32('a');
    f.close();
    fs.rmSync(file);
    expect(a[n - 1]).toBe(((n - 1) % 251) - 125);
    expect(a[12345]).toBe((12345 % 251) - 125);
  });

  it('is atomic: a failing fill leaves the old file and no temp file', () => {
    const file = fresh('atomic.safetensors');
    writeSafetensors(file, [{ name: 'a', dtype: 'F32', shape: [4] }], (_n, _o, c) => c.fill(2));
    const before = fs.readFileSync(file);
    expect(() => writeSafetensors(file, [{ name: 'a', dtype: 'F32', shape: [4] }, { name: 'b', dtype: 'F32', shape: [4] }], (n, _o, c) => {
      if (n === 'b') throw new Error('boom');
      c.fill(3);
    })).toThrow('boom');
    expect(fs.readFileSync(file)).toEqual(before);
    expect(fs.readdirSync(tmp.dir).filter((f) => f.includes('atomic') && f.includes('tmp'))).toEqual([]);
  });

  it('pads the header to 8 bytes and rejects bad specs', () => {
    const { header, dataBytes } = buildHeader([{ name: 'a', dtype: 'BF16', shape: [3, 3] }]);
    expect(header.length % 8).toBe(0);
    expect(dataBytes).toBe(18);
    expectCheckpointError(() => writeSafetensors(fresh(), [{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }], () => {}), "'a'");
    expectCheckpointError(() => writeSafetensors(fresh(), [{ name: 'a', dtype: 'I8' as 'F32', shape: [1] }], () => {}), "'a'", 'I8');
    expectCheckpointError(() => writeSafetensors(fresh(), [{ name: 'a', dtype: 'F32', shape: [-1] }], () => {}), "'a'");
  });
});

describe('open validation', () => {
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  const entry = (e: unknown): Record<string, unknown> => ({ t: e });

  it('file shorter than 8 bytes', () => {
    const f = writeRaw(new Uint8Array(5));
    expectCheckpointError(() => SafetensorsFile.open(f), f, 'shorter than');
  });
  it('missing file and directory', () => {
    const f = path.join(tmp.dir, 'missing.safetensors');
    expectCheckpointError(() => SafetensorsFile.open(f), f, 'ENOENT');
    expectCheckpointError(() => SafetensorsFile.open(tmp.dir), tmp.dir, 'not a regular file');
  });
  it('header length beyond the file / absurd', () => {
    const f1 = writeRaw(rawSafetensors(good, data8, 1000n));
    expectCheckpointError(() => SafetensorsFile.open(f1), f1, 'runs past the end');
    const f2 = writeRaw(rawSafetensors(good, data8, 1n << 60n));
    expectCheckpointError(() => SafetensorsFile.open(f2), f2, 'absurd');
    const f3 = writeRaw(rawSafetensors(good, data8, 200_000_000n));
    expectCheckpointError(() => SafetensorsFile.open(f3), f3, 'absurd');
  });
  it('header not JSON, not an object, not UTF-8', () => {
    const f1 = writeRaw(rawSafetensors('{"a": ', data8));
    expectCheckpointError(() => SafetensorsFile.open(f1), f1, 'not valid JSON');
    const f2 = writeRaw(rawSafetensors('[1, 2]', data8));
    expectCheckpointError(() => SafetensorsFile.open(f2), f2, 'not a JSON object');
    const f3 = writeRaw(rawSafetensors('null'));
    expectCheckpointError(() => SafetensorsFile.open(f3), f3, 'not a JSON object');
    const bad = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]);
    const f4 = writeRaw(bad);
    expectCheckpointError(() => SafetensorsFile.open(f4), f4, 'UTF-8');
  });
  it('tensor entry not an object', () => {
    const f = writeRaw(rawSafetensors(entry([1, 2])));
    expectCheckpointError(() => SafetensorsFile.open(f), f, "'t'", 'not an object');
  });
  it('unknown dtype', () => {
    for (const dtype of ['F33', 'f32', 7, null, undefined]) {
      const f = writeRaw(rawSafetensors(entry({ dtype, shape: [2], data_offsets: [0, 8] }), data8));
      const e = expectCheckpointError(() => SafetensorsFile.open(f), f, "'t'", 'unknown dtype');
      expect(e.tensor).toBe('t');
      expect(e.file).toBe(f);
    }
  });
  it('bad shape', () => {
    for (const shape of [[-1], [1.5], ['2'], 2, null, [[2]], [1e300]]) {
      const f = writeRaw(rawSafetensors(entry({ dtype: 'F32', shape, data_offsets: [0, 8] }), data8));
      expectCheckpointError(() => SafetensorsFile.open(f), f, "'t'", 'shape');
    }
  });
  it('bad data_offsets', () => {
    const cases: [unknown, string][] = [
      [[0], 'two non-negative integers'],
      [[0, 4, 8], 'two non-negative integers'],
      [[0, '8'], 'two non-negative integers'],
      [[-8, 0], 'two non-negative integers'],
      [[0, 8.5], 'two non-negative integers'],
      [null, 'two non-negative integers'],
      [[8, 0], 'begin > end'],
      [[0, 16], 'past the data section'],
      [[0, 4], 'needs 8'],
    ];
    for (const [offs, msg] of cases) {
      const f = writeRaw(rawSafetensors(entry({ dtype: 'F32', shape: [2], data_offsets: offs }), data8));
      expectCheckpointError(() => SafetensorsFile.open(f), f, "'t'", msg);
    }
  });
  it('shape whose byte size overflows', () => {
    const f = writeRaw(rawSafetensors(entry({ dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] }), data8));
    expectCheckpointError(() => SafetensorsFile.open(f), f, "'t'", 'needs');
  });
  it('overlapping tensors', () => {
    const f = writeRaw(rawSafetensors({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      z: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
    }, new Uint8Array(12)));
    const e = expectCheckpointError(() => SafetensorsFile.open(f), f, "'b'", "'a'", 'overlaps');
    expect(e.tensor).toBe('b');
  });
  it('overlap hidden behind a short tensor', () => {
    // c spans [0, 16); d starts inside it after the short e: the check must compare to the furthest end.
    const f = writeRaw(rawSafetensors({
      c: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
      d: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    }, new Uint8Array(16)));
    expectCheckpointError(() => SafetensorsFile.open(f), f, "'d'", "'c'", 'overlaps');
  });
  it('__metadata__ not a string map', () => {
    const f1 = writeRaw(rawSafetensors({ __metadata__: { format: 'pt', n: 3 }, ...good }, data8));
    const e = expectCheckpointError(() => SafetensorsFile.open(f1), f1, '__metadata__', "'n'");
    expect(e.tensor).toBe('n');
    const f2 = writeRaw(rawSafetensors({ __metadata__: ['x'], ...good }, data8));
    expectCheckpointError(() => SafetensorsFile.open(f2), f2, '__metadata__');
    const f3 = writeRaw(rawSafetensors({ __metadata__: 'x', ...good }, data8));
    expectCheckpointError(() => SafetensorsFile.open(f3), f3, '__metadata__');
  });
  it('accepts odd but valid files: empty header, gaps, __proto__ names, trailing spaces', () => {
    const f1 = writeRaw(rawSafetensors({}));
    const s1 = SafetensorsFile.open(f1);
    expect(s1.names()).toEqual([]);
    s1.close();
    const f2 = writeRaw(rawSafetensors('{"__proto__": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}, "__metadata__": {"__proto__": "x"}}   ', new Uint8Array([0, 0, 7, 9])));
    const s2 = SafetensorsFile.open(f2);
    expect(s2.names()).toEqual(['__proto__']);
    expect([...s2.readRaw('__proto__')]).toEqual([7, 9]);
    expect(s2.metadata['__proto__']).toBe('x');
    expect(Object.keys(s2.metadata)).toEqual(['__proto__']);
    s2.close();
    expect(new CheckpointError('m', 'f') instanceof Error).toBe(true);
  });
});
