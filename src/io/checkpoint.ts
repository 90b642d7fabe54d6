/**
 * A model checkpoint: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{"metadata": ..., "weight_map": {tensor: shardFile}}`).
 *
 * Shards open lazily, on the first access to one of their tensors; opening a shard checks it
 * against the index (every tensor the index maps to it is there; every tensor in it is mapped
 * to it). `validate()` opens every shard, for callers that want all defects up front.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonObject } from './config.ts';
import { CheckpointError } from './errors.ts';
import { SafetensorsFile, type TensorInfo } from './safetensors.ts';

/** File name of an unsharded checkpoint. */
export const SINGLE_FILE_NAME = 'model.safetensors';
/** File name of a sharded checkpoint's index. */
export const INDEX_FILE_NAME = 'model.safetensors.index.json';

/** Whether `dir` holds a checkpoint (a single safetensors file or a sharded one's index). */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, SINGLE_FILE_NAME)) || fs.existsSync(path.join(dir, INDEX_FILE_NAME));
}

/** A single-file or sharded safetensors checkpoint, read lazily. Call `close()` when done. */
export class Checkpoint {
  /** The model directory. */
  readonly dir: string;
  /** The index file, or the single safetensors file: what errors about the whole name. */
  readonly source: string;
  /** The index's `metadata` object, or the single file's `__metadata__`. */
  readonly metadata: Record<string, unknown>;
  /** tensor name → absolute shard path, in index order. */
  private readonly weightMap: Map<string, string>;
  /** shard path → tensor names the index maps to it. */
  private readonly byShard: Map<string, string[]>;
  private readonly open_: Map<string, SafetensorsFile> = new Map();

  private constructor(dir: string, source: string, metadata: Record<string, unknown>, weightMap: Map<string, string>) {
    this.dir = dir;
    this.source = source;
    this.metadata = metadata;
    this.weightMap = weightMap;
    this.byShard = new Map();
    for (const [name, shard] of weightMap) {
      const list = this.byShard.get(shard);
      if (list) list.push(name);
      else this.byShard.set(shard, [name]);
    }
  }

  /**
   * Open the checkpoint in `dir` (`model.safetensors`, else the sharded index). `dir` may
   * also be a `.safetensors` file or an index file itself.
   */
  static open(dir: string): Checkpoint {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      throw new CheckpointError(`${dir}: checkpoint path does not exist`, dir, undefined, { cause: e });
    }
    if (st.isFile()) {
      return dir.endsWith('.index.json') ? Checkpoint.openIndex(path.dirname(dir), dir) : Checkpoint.openSingle(path.dirname(dir), dir);
    }
    const single = path.join(dir, SINGLE_FILE_NAME);
    if (fs.existsSync(single)) return Checkpoint.openSingle(dir, single);
    const index = path.join(dir, INDEX_FILE_NAME);
    if (fs.existsSync(index)) return Checkpoint.openIndex(dir, index);
    throw new CheckpointError(`${dir}: no checkpoint here (neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME})`, dir);
  }

  private static openSingle(dir: string, file: string): Checkpoint {
    const f = SafetensorsFile.open(file);
    const ckpt = new Checkpoint(dir, file, { ...f.metadata }, new Map(f.names().map((n) => [n, file])));
    ckpt.open_.set(file, f);
    return ckpt;
  }

  private static openIndex(dir: string, indexPath: string): Checkpoint {
    const index = readJsonObject(indexPath, 'safetensors index');
    const { weight_map: wm, metadata } = index;
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
      throw new CheckpointError(`${indexPath}: 'metadata' must be an object`, indexPath, 'metadata');
    }
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
      throw new CheckpointError(`${indexPath}: missing or malformed 'weight_map' (an object {tensor: shard file})`, indexPath, 'weight_map');
    }
    const root = path.resolve(dir);
    const weightMap = new Map<string, string>();
    const checked = new Set<string>();
    for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '') {
        throw new CheckpointError(`${indexPath}: weight_map entry for tensor '${name}' is not a file name`, indexPath, name);
      }
      const abs = path.resolve(root, shard);
      if (path.isAbsolute(shard) || !abs.startsWith(root + path.sep)) {
        throw new CheckpointError(`${indexPath}: shard '${shard}' of tensor '${name}' is outside the checkpoint directory`, indexPath, name);
      }
      const shardPath = path.join(dir, shard);
      if (!checked.has(shardPath)) {
        if (!fs.existsSync(shardPath)) {
          throw new CheckpointError(`${indexPath}: shard file '${shard}' (holding tensor '${name}') does not exist`, shardPath, name);
        }
        checked.add(shardPath);
      }
      weightMap.set(name, shardPath);
    }
    return new Checkpoint(dir, indexPath, { ...(metadata as Record<string, unknown> | undefined) }, weightMap);
  }

  /** Tensor names (index order for shards, file order for a single file). */
  names(): string[] {
    return [...this.weightMap.keys()];
  }

  /** Whether the checkpoint holds `name` (by the index; opens nothing). */
  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** The files holding tensors (the single file, or every shard). */
  files(): string[] {
    return [...this.byShard.keys()];
  }

  /** Location, dtype and shape of `name`; opens its shard if needed. */
  info(name: string): TensorInfo {
    const shard = this.weightMap.get(name);
    if (shard === undefined) throw new CheckpointError(`${this.source}: no tensor '${name}' in the checkpoint`, this.source, name);
    return this.shard(shard).info(name);
  }

  /** The tensor as f32 (see `SafetensorsFile.readF32`). */
  readF32(name: string, out?: Float32Array): Float32Array {
    this.info(name);
    return this.shard(this.weightMap.get(name)!).readF32(name, out);
  }

  /** The tensor's stored bytes. */
  readRaw(name: string): Buffer {
    this.info(name);
    return this.shard(this.weightMap.get(name)!).readRaw(name);
  }

  /** Part of the tensor's stored bytes, from `offset` (see `SafetensorsFile.readBytes`). */
  readBytes(name: string, offset: number, dst: Uint8Array | readonly Uint8Array[]): void {
    this.info(name);
    this.shard(this.weightMap.get(name)!).readBytes(name, offset, dst);
  }

  /** Sum of all tensors' byte sizes (opens every shard). */
  totalBytes(): number {
    let total = 0;
    for (const name of this.weightMap.keys()) {
      const t = this.info(name);
      total += t.end - t.begin;
    }
    return total;
  }

  /** The dtypes present (opens every shard). */
  dtypes(): Set<string> {
    const out = new Set<string>();
    for (const name of this.weightMap.keys()) out.add(this.info(name).dtype);
    return out;
  }

  /** Open and cross-check every shard now rather than on first use. */
  validate(): void {
    for (const shard of this.byShard.keys()) this.shard(shard);
  }

  /** Close every open shard. */
  close(): void {
    for (const f of this.open_.values()) f.close();
    this.open_.clear();
  }

  private shard(file: string): SafetensorsFile {
    const have = this.open_.get(file);
    if (have) return have;
    const f = SafetensorsFile.open(file);
    try {
      for (const name of this.byShard.get(file) ?? []) {
        if (!f.has(name)) {
          throw new CheckpointError(`${file}: tensor '${name}' is mapped to this shard by ${this.source} but is not in it`, file, name);
        }
      }
      for (const name of f.names()) {
        const mapped = this.weightMap.get(name);
        if (mapped === undefined) {
          throw new CheckpointError(`${file}: tensor '${name}' is in this shard but not in the weight_map of ${this.source}`, file, name);
        }
        if (mapped !== file) {
          throw new CheckpointError(`${file}: tensor '${name}' is in two shards (here and ${mapped}, where ${this.source} maps it)`, file, name);
        }
      }
    } catch (e) {
      f.close();
      throw e;
    }
    this.open_.set(file, f);
    return f;
  }
}
