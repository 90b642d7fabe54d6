/**
 * Lazy safetensors reader.
 *
 * Opening a file reads only the 8-byte header length and the JSON header; tensor bytes are
 * read on request with positioned reads, straight into the destination array, so a 16 GB
 * checkpoint never passes through the JS heap as a whole. Every structural rule of the
 * format is checked at open time, so a read can only fail if the file changes underneath.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CheckpointError } from './errors.ts';
import { f16Table32 } from '../util/half.ts';
import { numel } from '../util/math.ts';

/** Element types that may appear in a safetensors header. */
export type StDtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0'
  | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32'
  | 'I64' | 'U64' | 'F64' | 'C64';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<StDtype, number>> = Object.freeze({
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8, C64: 8,
});

/** Whether `s` names a dtype this reader knows. */
export function isStDtype(s: unknown): s is StDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** Where one tensor lives. `begin`/`end` are ABSOLUTE byte offsets in `file`. */
export interface TensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  file: string;
  begin: number;
  end: number;
}

/** A header larger than this is treated as corrupt rather than allocated. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Size of one positioned read; keeps each syscall bounded (readSync caps at 2 GiB). */
const READ_CHUNK_BYTES = 64 * 1024 * 1024;

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** The parsed, validated content of a safetensors header. */
export interface ParsedHeader {
  /** Tensors in file order (ascending `begin`). */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validate a header's JSON text against the file's layout.
 * `dataStart` is 8 + header length; `fileSize` bounds every tensor.
 */
export function parseHeader(headerBytes: Uint8Array, file: string, dataStart: number, fileSize: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (e) {
    throw new CheckpointError(`${file}: safetensors header is not valid UTF-8`, file, undefined, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CheckpointError(`${file}: safetensors header is not valid JSON (${why})`, file, undefined, { cause: e });
  }
  if (!isPlainObject(json)) throw new CheckpointError(`${file}: safetensors header is not a JSON object`, file);

  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new CheckpointError(`${file}: '__metadata__' must be an object of strings`, file, '__metadata__');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new CheckpointError(`${file}: '__metadata__' key '${k}' is not a string`, file, k);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${file}: tensor '${name}'`;
    if (!isPlainObject(entry)) throw new CheckpointError(`${where}: entry is not an object`, file, name);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isStDtype(dtype)) throw new CheckpointError(`${where}: unknown dtype ${JSON.stringify(dtype) ?? String(dtype)}`, file, name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new CheckpointError(`${where}: shape ${JSON.stringify(shape) ?? String(shape)} is not an array of non-negative integers`, file, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw new CheckpointError(`${where}: data_offsets ${JSON.stringify(offsets) ?? String(offsets)} is not two non-negative integers`, file, name);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new CheckpointError(`${where}: data_offsets [${begin}, ${end}] has begin > end`, file, name);
    if (end > dataSize) {
      throw new CheckpointError(`${where}: data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes; file truncated?)`, file, name);
    }
    const count = numel(shape as number[]);
    const bytes = count * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw new CheckpointError(`${where}: ${end - begin} bytes in data_offsets but shape [${shape.join(', ')}] of ${dtype} needs ${bytes}`, file, name);
    }
    tensors.push(Object.freeze({
      name, dtype, shape: Object.freeze([...(shape as number[])]) as number[],
      file, begin: dataStart + begin, end: dataStart + end,
    }));
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.begin === t.end) continue; // empty tensors occupy no bytes
    if (prev && t.begin < prev.end) {
      throw new CheckpointError(`${file}: tensor '${t.name}' overlaps tensor '${prev.name}' (bytes ${t.begin - dataStart} < ${prev.end - dataStart})`, file, t.name);
    }
    if (!prev || t.end > prev.end) prev = t;
  }
  return { tensors, metadata };
}

/** An open safetensors file; tensor bytes are read only on request. Call `close()` when done. */
export class SafetensorsFile {
  /** Path the file was opened with. */
  readonly path: string;
  /** The header's `__metadata__` (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Total file size in bytes. */
  readonly size: number;
  private fd: number | null;
  private readonly tensors: Map<string, TensorInfo>;
  private readonly order: string[];

  private constructor(path: string, fd: number, size: number, parsed: ParsedHeader) {
    this.path = path;
    this.fd = fd;
    this.size = size;
    this.metadata = parsed.metadata;
    this.tensors = new Map(parsed.tensors.map((t) => [t.name, t]));
    this.order = parsed.tensors.map((t) => t.name);
  }

  /** Open and validate `path`; throws `CheckpointError` naming the file on any defect. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CheckpointError(`${path}: cannot open safetensors file (${code ?? String(e)})`, path, undefined, { cause: e });
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new CheckpointError(`${path}: not a regular file`, path);
      const size = st.size;
      if (size < 8) throw new CheckpointError(`${path}: file is ${size} bytes, shorter than the 8-byte safetensors header length`, path);
      const lenBuf = Buffer.alloc(8);
      readFully(fd, lenBuf, 0, path);
      const n = lenBuf.readBigUInt64LE(0);
      if (n > BigInt(MAX_HEADER_BYTES)) {
        throw new CheckpointError(`${path}: header length ${n} is absurd (over ${MAX_HEADER_BYTES} bytes); not a safetensors file?`, path);
      }
      const headerLen = Number(n);
      if (8 + headerLen > size) {
        throw new CheckpointError(`${path}: header length ${headerLen} runs past the end of the ${size}-byte file`, path);
      }
      const header = Buffer.alloc(headerLen);
      readFully(fd, header, 8, path);
      const parsed = parseHeader(header, path, 8 + headerLen, size);
      return new SafetensorsFile(path, fd, size, parsed);
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`${path}: cannot read safetensors header (${String(e)})`, path, undefined, { cause: e });
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.order];
  }

  /** Whether the file holds `name`. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Location, dtype and shape of `name` (frozen). */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(`${this.path}: no tensor '${name}'`, this.path, name);
    return t;
  }

  /**
   * The tensor as f32 (F32 as stored; BF16 and F16 widened exactly). `out`, if given, must
   * have exactly numel elements and is filled and returned; bytes land in it directly, so no
   * second full-size buffer is made.
   */
  readF32(name: string, out?: Float32Array): Float32Array {
    const t = this.info(name);
    if (t.dtype !== 'F32' && t.dtype !== 'BF16' && t.dtype !== 'F16') {
      throw new CheckpointError(`${this.path}: tensor '${name}' is ${t.dtype}; readF32 reads only F32, BF16 and F16 (use readRaw)`, this.path, name);
    }
    this.requireLittleEndian(name);
    const n = numel(t.shape);
    if (out && out.length !== n) {
      throw new CheckpointError(`${this.path}: tensor '${name}' has ${n} elements, output array has ${out.length}`, this.path, name);
    }
    const dst = out ?? new Float32Array(n);
    const bytes = new Uint8Array(dst.buffer, dst.byteOffset, n * 4);
    if (t.dtype === 'F32') {
      this.readRange(t, bytes);
      return dst;
    }
    // 16-bit source: read into the upper half of dst, then widen front to back. Writing
    // element i (bytes 4i..4i+3) never reaches unread source bytes (from 2n+2i+2 on).
    this.readRange(t, bytes.subarray(2 * n));
    const src = new Uint16Array(dst.buffer, dst.byteOffset + 2 * n, n);
    if (t.dtype === 'BF16') {
      const u32 = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) u32[i] = src[i] << 16;
    } else {
      const table = f16Table32();
      for (let i = 0; i < n; i++) dst[i] = table[src[i]];
    }
    return dst;
  }

  /** An I32 tensor as an Int32Array. */
  readI32(name: string): Int32Array {
    const t = this.info(name);
    if (t.dtype !== 'I32') throw new CheckpointError(`${this.path}: tensor '${name}' is ${t.dtype}, not I32`, this.path, name);
    this.requireLittleEndian(name);
    const dst = new Int32Array(numel(t.shape));
    this.readRange(t, new Uint8Array(dst.buffer));
    return dst;
  }

  /** The tensor's stored bytes, whatever its dtype. */
  readRaw(name: string): Buffer {
    const t = this.info(name);
    const buf = Buffer.allocUnsafe(t.end - t.begin);
    this.readRange(t, buf);
    return buf;
  }

  /**
   * `dst.length` stored bytes of `name` from byte `offset` of its data on (a row range, say),
   * read straight into `dst`: what a loader streaming a tensor in pieces reads. Given a list,
   * the bytes fill each buffer in turn (rows scattered to where a pack wants them, in one readv).
   */
  readBytes(name: string, offset: number, dst: Uint8Array | readonly Uint8Array[]): void {
    const t = this.info(name), len = dst instanceof Uint8Array ? dst.length : dst.reduce((s, d) => s + d.length, 0);
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + len <= t.end - t.begin)) {
      throw new CheckpointError(`${this.path}: bytes [${offset}, ${offset + len}) are outside tensor '${name}' (${t.end - t.begin} bytes)`, this.path, name);
    }
    if (this.fd === null) throw new CheckpointError(`${this.path}: read of tensor '${t.name}' after close()`, this.path, t.name);
    if (dst instanceof Uint8Array) readFully(this.fd, dst, t.begin + offset, this.path, t.name);
    else readScattered(this.fd, dst, t.begin + offset, this.path, t.name);
  }

  /** Release the file descriptor; later reads throw. Idempotent. */
  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }

  private requireLittleEndian(name: string): void {
    if (!LITTLE_ENDIAN) throw new CheckpointError(`${this.path}: typed reads of '${name}' need a little-endian host`, this.path, name);
  }

  private readRange(t: TensorInfo, dst: Uint8Array): void {
    if (this.fd === null) throw new CheckpointError(`${this.path}: read of tensor '${t.name}' after close()`, this.path, t.name);
    readFully(this.fd, dst, t.begin, this.path, t.name);
  }
}

/** Fill `dst` from `position` on, in bounded chunks; a short read means the file shrank. */
function readFully(fd: number, dst: Uint8Array, position: number, file: string, tensor?: string): void {
  for (let done = 0; done < dst.length;) {
    const len = Math.min(READ_CHUNK_BYTES, dst.length - done);
    done += checkedRead(() => fs.readSync(fd, dst, done, len, position + done), file, tensor);
  }
}

/** Buffers one readv takes at most (Linux's IOV_MAX; libuv reads no more at once). */
const IOV_MAX = 1024;

/**
 * Fill each of `dsts` in turn from `position` on, IOV_MAX buffers a syscall: a reordered copy
 * (rows scattered into a pack) read straight from the file, with no second pass over the bytes.
 */
function readScattered(fd: number, dsts: readonly Uint8Array[], position: number, file: string, tensor?: string): void {
  for (let i = 0, pos = position; i < dsts.length;) {
    let got = checkedRead(() => fs.readvSync(fd, dsts.slice(i, i + IOV_MAX), pos), file, tensor);
    for (; got > 0 && i < dsts.length; i++) {
      const n = dsts[i].length;
      // A read may stop inside a buffer (a signal, a huge batch): finish that one on its own.
      if (got < n) readFully(fd, dsts[i].subarray(got), pos + got, file, tensor);
      got -= Math.min(got, n);
      pos += n;
    }
  }
}

/** Bytes one read returned, failures and an early end of file (the file shrank) as CheckpointErrors. */
function checkedRead(read: () => number, file: string, tensor?: string): number {
  let got: number;
  try {
    got = read();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new CheckpointError(`${file}: read failed${tensor === undefined ? '' : ` for tensor '${tensor}'`} (${code})`, file, tensor, { cause: e });
  }
  if (got === 0) {
    const what = tensor === undefined ? 'header' : `tensor '${tensor}'`;
    throw new CheckpointError(`${file}: unexpected end of file reading ${what} (file changed after open?)`, file, tensor);
  }
  return got;
}
