import * as fs from 'node:fs';
import fsDefault from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Checkpoint, INDEX_FILE_NAME, SINGLE_FILE_NAME } from '../../src/io/checkpoint.ts';
import { loadHfConfig, readJsonFile } from '../../src/io/config.ts';
import { randomCheckpointFill } from '../../src/io/random.ts';
import { writeCheckpoint, writeSafetensors, type TensorSpec } from '../../src/io/safetensors-writer.ts';
import { expectCheckpointError, tempDir } from './helpers.ts';

const tmp = tempDir();
afterAll(tmp.cleanup);
let n = 0;
const freshDir = (): string => {
  const d = path.join(tmp.dir, `d${n++}`);
  fs.mkdirSync(d);
  return d;
};

const SPECS: (TensorSpec & { init?: { kind: 'ones' } })[] = [
  { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [37, 16] },
  { name: 'model.layers.0.input_layernorm.weight', dtype: 'F32', shape: [16], init: { kind: 'ones' } },
  { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F16', shape: [16, 16] },
  { name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [16] },
  { name: 'model.norm.weight', dtype: 'F32', shape: [16], init: { kind: 'ones' } },
  { name: 'lm_head.weight', dtype: 'BF16', shape: [37, 16] },
];

/** Write the same tensors single-file and sharded; return both dirs. */
function writeBoth(maxShardBytes: number): { single: string; sharded: string; files: string[] } {
  const single = freshDir();
  const sharded = freshDir();
  writeCheckpoint(single, SPECS, randomCheckpointFill(11, SPECS));
  const files = writeCheckpoint(sharded, SPECS, randomCheckpointFill(11, SPECS), { maxShardBytes });
  return { single, sharded, files };
}

describe('Checkpoint', () => {
  it('reads a sharded checkpoint exactly like the single file', () => {
    const { single, sharded, files } = writeBoth(1200);
    expect(files.map((f) => path.basename(f))).toEqual([
      // greedy: [embed 1184 B] [norm, q, bias, norm: 704 B] [lm_head 1184 B]
      'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors', INDEX_FILE_NAME,
    ]);
    const a = Checkpoint.open(single);
    const b = Checkpoint.open(sharded);
    try {
      expect(b.names()).toEqual(a.names());
      expect(b.names()).toEqual(SPECS.map((s) => s.name));
      expect(b.totalBytes()).toBe(a.totalBytes());
      expect(b.totalBytes()).toBe(37 * 16 * 2 * 2 + 16 * 4 * 3 + 16 * 16 * 2);
      expect([...b.dtypes()].sort()).toEqual(['BF16', 'F16', 'F32']);
      expect(b.metadata).toEqual({ total_size: b.totalBytes() });
      expect(a.metadata).toEqual({ format: 'pt' });
      for (const s of SPECS) {
        const x = a.readF32(s.name);
        expect(b.readF32(s.name)).toEqual(x);
        expect(b.info(s.name).shape).toEqual(s.shape);
        expect(b.has(s.name)).toBe(true);
        expect(x.every(Number.isFinite)).toBe(true);
      }
      expect([...a.readF32('model.norm.weight')]).toEqual(new Array(16).fill(1));
      expect(b.has('nope')).toBe(false);
      expectCheckpointError(() => b.info('nope'), sharded, "'nope'");
      expect(b.files().length).toBe(3);
    } finally {
      a.close();
      b.close();
    }
  });

  it('reads a real fixture checkpoint', () => {
    const c = Checkpoint.open(path.join('test', 'fixtures', 'models', 'llada_s3'));
    try {
      expect(c.has('model.transformer.wte.weight')).toBe(true);
      expect(c.dtypes()).toEqual(new Set(['F32']));
      const info = c.info('model.transformer.wte.weight');
      const w = c.readF32('model.transformer.wte.weight');
      expect(w.length).toBe(info.shape[0] * info.shape[1]);
      expect(w.every(Number.isFinite)).toBe(true);
      expect(w.some((x) => x !== 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it('opens shards lazily', () => {
    const { sharded } = writeBoth(1200);
    const c = Checkpoint.open(sharded);
    // Break a shard nobody has touched yet: opening still succeeds, its first read fails.
    fs.writeFileSync(path.join(sharded, 'model-00003-of-00003.safetensors'), 'junk');
    expect(c.readF32('model.embed_tokens.weight').length).toBe(37 * 16);
    expectCheckpointError(() => c.info('lm_head.weight'), 'model-00003-of-00003.safetensors', 'shorter than');
    expectCheckpointError(() => c.validate(), 'model-00003-of-00003.safetensors');
    c.close();
  });

  it('opens a file path directly, and the index path', () => {
    const { single, sharded } = writeBoth(1200);
    const a = Checkpoint.open(path.join(single, SINGLE_FILE_NAME));
    expect(a.names().length).toBe(SPECS.length);
    a.close();
    const b = Checkpoint.open(path.join(sharded, INDEX_FILE_NAME));
    b.validate();
    b.close();
  });

  it('a tensor larger than maxShardBytes gets a shard of its own', () => {
    const d = freshDir();
    const files = writeCheckpoint(d, SPECS, randomCheckpointFill(1, SPECS), { maxShardBytes: 10 });
    expect(files.length).toBe(SPECS.length + 1);
    const c = Checkpoint.open(d);
    c.validate();
    c.close();
  });

  it('a sharded write removes a stale model.safetensors that would shadow it', () => {
    const d = freshDir();
    writeCheckpoint(d, SPECS.slice(0, 1), randomCheckpointFill(1, SPECS));
    writeCheckpoint(d, SPECS, randomCheckpointFill(1, SPECS), { maxShardBytes: 1200 });
    expect(fs.existsSync(path.join(d, SINGLE_FILE_NAME))).toBe(false);
    const c = Checkpoint.open(d);
    expect(c.names().length).toBe(SPECS.length);
    c.close();
  });
});

describe('scattered reads (rows straight to where a pack wants them)', () => {
  it('fill each buffer in turn like one contiguous read, past IOV_MAX buffers and after a short readv', () => {
    const d = freshDir();
    const specs: TensorSpec[] = [{ name: 'pad', dtype: 'F32', shape: [3] }, { name: 'w', dtype: 'BF16', shape: [2500, 3] }];
    writeCheckpoint(d, specs, randomCheckpointFill(7, specs));
    const c = Checkpoint.open(d);
    const want = new Uint8Array(2400 * 6);
    c.readBytes('w', 100 * 6, want);
    // Rows 100..2499 into a buffer in reversed order: 2400 one-row views, so three readv calls.
    const got = new Uint8Array(want.length);
    const views = Array.from({ length: 2400 }, (_, i) => got.subarray((2399 - i) * 6, (2400 - i) * 6));
    const check = () => {
      got.fill(0);
      c.readBytes('w', 100 * 6, views);
      for (let i = 0; i < 2400; i++) expect(Buffer.compare(views[i], want.subarray(i * 6, (i + 1) * 6)), `row ${i}`).toBe(0);
    };
    check();
    // A readv that stops inside a buffer (as a signal may make it) is finished, not misplaced.
    const real = fs.readvSync;
    const spy = vi.spyOn(fsDefault, 'readvSync').mockImplementation(((fd: number, bufs: NodeJS.ArrayBufferView[], pos: number) => real(fd, [...bufs.slice(0, 3), (bufs[3] as Uint8Array).subarray(0, 4)], pos)) as typeof fs.readvSync);
    syncBuiltinESMExports();
    try {
      check();
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
      syncBuiltinESMExports();
    }
    expectCheckpointError(() => c.readBytes('w', 101 * 6, views), 'outside tensor');
    c.close();
  });
});

describe('Checkpoint errors', () => {
  function sharded(): string {
    return writeBoth(1200).sharded;
  }
  const indexOf = (d: string): string => path.join(d, INDEX_FILE_NAME);
  const readIndex = (d: string): { metadata: unknown; weight_map: Record<string, string> } =>
    JSON.parse(fs.readFileSync(indexOf(d), 'utf8')) as { metadata: unknown; weight_map: Record<string, string> };
  const writeIndex = (d: string, v: unknown): void => fs.writeFileSync(indexOf(d), typeof v === 'string' ? v : JSON.stringify(v));

  it('no checkpoint in the directory / no directory', () => {
    const d = freshDir();
    expectCheckpointError(() => Checkpoint.open(d), d, SINGLE_FILE_NAME, INDEX_FILE_NAME);
    const missing = path.join(tmp.dir, 'nowhere');
    expectCheckpointError(() => Checkpoint.open(missing), missing, 'does not exist');
  });
  it('malformed index JSON', () => {
    const d = sharded();
    writeIndex(d, '{"weight_map": {');
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'not valid JSON');
    writeIndex(d, '[]');
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'JSON object');
  });
  it('missing or malformed weight_map / metadata', () => {
    const d = sharded();
    writeIndex(d, { metadata: {} });
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'weight_map');
    writeIndex(d, { weight_map: ['a'] });
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'weight_map');
    writeIndex(d, { weight_map: {}, metadata: 3 });
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'metadata');
    writeIndex(d, { weight_map: { 'a.weight': 5 } });
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), "'a.weight'");
    writeIndex(d, { weight_map: { 'a.weight': '../x.safetensors' } });
    expectCheckpointError(() => Checkpoint.open(d), indexOf(d), "'a.weight'", 'outside');
  });
  it('shard file missing', () => {
    const d = sharded();
    const idx = readIndex(d);
    idx.weight_map['lm_head.weight'] = 'model-00009-of-00009.safetensors';
    writeIndex(d, idx);
    const e = expectCheckpointError(() => Checkpoint.open(d), indexOf(d), 'model-00009-of-00009.safetensors', "'lm_head.weight'", 'does not exist');
    expect(e.tensor).toBe('lm_head.weight');
  });
  it('tensor mapped to a shard that does not hold it', () => {
    const d = sharded();
    const idx = readIndex(d);
    idx.weight_map['extra.weight'] = 'model-00002-of-00003.safetensors';
    writeIndex(d, idx);
    const c = Checkpoint.open(d);
    expectCheckpointError(() => c.info('extra.weight'), 'model-00002-of-00003.safetensors', "'extra.weight'", 'not in it');
    // The other tensors of the same shard are refused too: the shard as a whole is inconsistent.
    const other = Object.keys(idx.weight_map).find((k) => k !== 'extra.weight' && idx.weight_map[k] === 'model-00002-of-00003.safetensors')!;
    expectCheckpointError(() => c.readF32(other), "'extra.weight'");
    c.close();
  });
  it('tensor in two shards', () => {
    const d = sharded();
    // Copy shard 1 over shard 2's data under another name, then list shard 1's tensor as in shard 2 too.
    const idx = readIndex(d);
    const name = 'model.embed_tokens.weight';
    const dup = path.join(d, 'model-00005-of-00005.safetensors');
    writeSafetensors(dup, [{ name, dtype: 'BF16', shape: [37, 16] }, { name: 'only.here', dtype: 'F32', shape: [1] }], (_n, _o, ch) => ch.fill(1));
    idx.weight_map['only.here'] = 'model-00005-of-00005.safetensors';
    writeIndex(d, idx);
    const c = Checkpoint.open(d);
    expect(c.readF32(name).length).toBe(37 * 16); // its own shard is fine
    const e = expectCheckpointError(() => c.info('only.here'), dup, `'${name}'`, 'two shards', idx.weight_map[name]);
    expect(e.tensor).toBe(name);
    expectCheckpointError(() => c.validate(), 'two shards');
    c.close();
  });
  it('tensor in a shard but not in the weight_map', () => {
    const d = sharded();
    const idx = readIndex(d);
    delete idx.weight_map['model.norm.weight']; // shard 2 still holds it
    writeIndex(d, idx);
    const c = Checkpoint.open(d);
    expect(c.has('model.norm.weight')).toBe(false);
    expectCheckpointError(() => c.validate(), 'model-00002-of-00003.safetensors', "'model.norm.weight'", 'not in the weight_map');
    c.close();
  });
});

describe('config', () => {
  it('loads config.json and merges generation_config.json', () => {
    const d = freshDir();
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'Dream', hidden_size: 8 }));
    expect(loadHfConfig(d)).toEqual({ model_type: 'Dream', hidden_size: 8 });
    fs.writeFileSync(path.join(d, 'generation_config.json'), JSON.stringify({ eos_token_id: 3 }));
    expect(loadHfConfig(d)).toEqual({ model_type: 'Dream', hidden_size: 8, generation: { eos_token_id: 3 } });
  });
  it('reads the real fixture configs', () => {
    const cfg = loadHfConfig(path.join('test', 'fixtures', 'models', 'dream_s3'));
    expect(cfg.model_type).toBe('Dream');
    expect(typeof cfg.generation).toBe('object');
  });
  it('errors name the file', () => {
    const d = freshDir();
    const cfg = path.join(d, 'config.json');
    expectCheckpointError(() => loadHfConfig(d), cfg, 'not found');
    fs.writeFileSync(cfg, '{"a": 1,}');
    expectCheckpointError(() => loadHfConfig(d), cfg, 'not valid JSON');
    fs.writeFileSync(cfg, '"str"');
    expectCheckpointError(() => loadHfConfig(d), cfg, 'JSON object');
    fs.writeFileSync(cfg, '{}');
    fs.writeFileSync(path.join(d, 'generation_config.json'), '{');
    expectCheckpointError(() => loadHfConfig(d), 'generation_config.json', 'not valid JSON');
    expectCheckpointError(() => readJsonFile(path.join(d, 'nope.json'), 'thing'), 'nope.json', 'thing', 'not found');
  });
});
