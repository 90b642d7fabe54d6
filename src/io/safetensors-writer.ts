/**
 * Streamed safetensors writer, single file or sharded with an index.
 *
 * Values come from a `fill` callback a chunk at a time (at most WRITE_CHUNK_ELEMENTS), so a
 * multi-GB checkpoint is written with tens of MB of memory. Every file is written to a temp
 * name in its directory, fsynced and renamed over the target: a reader sees the old file or
 * the complete new one, never a torn write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './errors.ts';
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from './checkpoint.ts';
import { bf16OfF32BitsInto, f32ToF16Bits } from '../util/half.ts';
import { DTYPE_BYTES } from './safetensors.ts';
import { numel } from '../util/math.ts';

/** Dtypes the writer can produce from f32 values. */
export type WriteDtype = 'F32' | 'BF16' | 'F16';

/** One tensor to write. */
export interface TensorSpec {
  name: string;
  dtype: WriteDtype;
  shape: number[];
}

/**
 * Supplies values: fill `chunk` with elements `[offset, offset + chunk.length)` of tensor
 * `name` (flattened, row-major). Called in order, offset 0 first, for each tensor in turn.
 */
export type FillFn = (name: string, offset: number, chunk: Float32Array) => void;

/** Largest chunk handed to `fill` (16M elements = 64 MB of f32). */
export const WRITE_CHUNK_ELEMENTS = 1 << 24;

/** Options of `writeCheckpoint`. */
export interface WriteCheckpointOptions {
  /** `__metadata__` of every file; defaults to `{format: 'pt'}`, which PyTorch loaders expect. */
  metadata?: Record<string, string>;
  /** Split into shards of at most this many data bytes (a larger tensor gets a shard alone). */
  maxShardBytes?: number;
}

/** The 8-byte length plus the JSON header (space-padded to a multiple of 8), and the data size. */
export function buildHeader(specs: readonly TensorSpec[], metadata?: Record<string, string>): { header: Buffer; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  let offset = 0;
  for (const s of specs) {
    const bytes = numel(s.shape) * DTYPE_BYTES[s.dtype];
    json[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const padded = Math.ceil(body.length / 8) * 8;
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  body.copy(header, 8);
  return { header, dataBytes: offset };
}

function checkSpecs(file: string, specs: readonly TensorSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === '__metadata__' || seen.has(s.name)) {
      throw new CheckpointError(`${file}: tensor name '${s.name}' is reserved or repeated`, file, s.name);
    }
    seen.add(s.name);
    if (s.dtype !== 'F32' && s.dtype !== 'BF16' && s.dtype !== 'F16') {
      throw new CheckpointError(`${file}: tensor '${s.name}': cannot write dtype ${String(s.dtype)}`, file, s.name);
    }
    if (!s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${file}: tensor '${s.name}': bad shape [${s.shape.join(', ')}]`, file, s.name);
    }
  }
}

/** Write `specs` to the safetensors file `file`, atomically (temp file + rename). */
export function writeSafetensors(file: string, specs: readonly TensorSpec[], fill: FillFn, metadata?: Record<string, string>): void {
  checkSpecs(file, specs);
  const { header } = buildHeader(specs, metadata);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const fd = fs.openSync(tmp, 'wx');
  try {
    writeAll(fd, header);
    const maxNumel = specs.reduce((m, s) => Math.max(m, numel(s.shape)), 0);
    const scratch = new Float32Array(Math.min(WRITE_CHUNK_ELEMENTS, maxNumel));
    const half = new Uint16Array(scratch.length);
    const bits = new Uint32Array(scratch.buffer);
    for (const s of specs) {
      const n = numel(s.shape);
      for (let off = 0; off < n; off += scratch.length) {
        const len = Math.min(scratch.length, n - off);
        const chunk = scratch.subarray(0, len);
        chunk.fill(NaN); // poison: elements fill forgets show up as NaN, not stale values
        fill(s.name, off, chunk);
        if (s.dtype === 'F32') writeAll(fd, new Uint8Array(scratch.buffer, 0, len * 4));
        else {
          if (s.dtype === 'BF16') bf16OfF32BitsInto(bits, half, len);
          else toF16(chunk, half, len);
          writeAll(fd, new Uint8Array(half.buffer, 0, len * 2));
        }
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.renameSync(tmp, file);
}

/**
 * Write a checkpoint directory: `model.safetensors`, or (when the data exceeds
 * `maxShardBytes`) `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`,
 * the index written last. A stale `model.safetensors` is removed after a sharded write, since
 * it would shadow the index. Returns the files written.
 */
export function writeCheckpoint(dir: string, specs: readonly TensorSpec[], fill: FillFn, opts: WriteCheckpointOptions = {}): string[] {
  const metadata = opts.metadata ?? { format: 'pt' };
  fs.mkdirSync(dir, { recursive: true });
  checkSpecs(dir, specs);
  const shards: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let curBytes = 0;
  const max = opts.maxShardBytes ?? Infinity;
  for (const s of specs) {
    const bytes = numel(s.shape) * DTYPE_BYTES[s.dtype];
    if (cur.length > 0 && curBytes + bytes > max) {
      shards.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(s);
    curBytes += bytes;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);

  if (shards.length === 1) {
    const file = path.join(dir, SINGLE_FILE_NAME);
    writeSafetensors(file, shards[0], fill, metadata);
    return [file];
  }
  const written: string[] = [];
  const weightMap: Record<string, string> = {};
  let total = 0;
  const pad = (i: number): string => String(i).padStart(5, '0');
  shards.forEach((group, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    const file = path.join(dir, name);
    writeSafetensors(file, group, fill, metadata);
    written.push(file);
    for (const s of group) {
      weightMap[s.name] = name;
      total += numel(s.shape) * DTYPE_BYTES[s.dtype];
    }
  });
  const indexFile = path.join(dir, INDEX_FILE_NAME);
  const tmp = `${indexFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  fs.renameSync(tmp, indexFile);
  written.push(indexFile);
  fs.rmSync(path.join(dir, SINGLE_FILE_NAME), { force: true });
  return written;
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
}

/** f32 bits → bf16, round to nearest even; NaN stays NaN (quiet bit set). */
function toF16(src: Float32Array, out: Uint16Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(src[i]);
}
