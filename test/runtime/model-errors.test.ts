import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostModel } from '../../src/runtime/model.ts';
import { SafetensorsFile } from '../../src/io/safetensors.ts';
import { writeSafetensors } from '../../src/io/safetensors-writer.ts';
import { modelDir } from '../helpers/golden.ts';

/** A copy of a fixture whose checkpoint is rewritten by `edit` (name -> [shape, data]). */
function editedCopy(name: string, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-model-'));
  cpSync(join(modelDir(name), 'config.json'), join(dir, 'config.json'));
  const src = SafetensorsFile.open(join(modelDir(name), 'model.safetensors'));
  const t = new Map(src.names().map((n) => [n, { shape: src.info(n).shape, data: src.readF32(n) }]));
  src.close();
  edit(t);
  writeSafetensors(join(dir, 'model.safetensors'), [...t].map(([n, v]) => ({ name: n, dtype: 'F32' as const, shape: v.shape })),
    (n, off, chunk) => chunk.set(t.get(n)!.data.subarray(off, off + chunk.length)));
  return dir;
}

describe('a checkpoint that does not fit its config is refused, naming the tensor', () => {
  it('missing tensor', async () => {
    const dir = editedCopy('llada_s3', (t) => t.delete('model.transformer.blocks.1.up_proj.weight'));
    await expect(loadHostModel(dir)).rejects.toThrow(/tensor 'model\.transformer\.blocks\.1\.up_proj\.weight' missing/);
  });

  it('wrong shape', async () => {
    const dir = editedCopy('dream_s3', (t) => {
      const w = t.get('model.layers.0.self_attn.q_proj.weight')!;
      t.set('model.layers.0.self_attn.q_proj.weight', { shape: [w.shape[0] - 1, w.shape[1]], data: w.data.subarray(0, (w.shape[0] - 1) * w.shape[1]) });
    });
    await expect(loadHostModel(dir)).rejects.toThrow(/model\.safetensors: tensor 'model\.layers\.0\.self_attn\.q_proj\.weight' has shape \[\d+,\d+\], config\.json implies/);
  });

  it('past the layers the config check probes, a weight is refused as it would be there: file, tensor and config key', async () => {
    // llada_s20 has 3 layers; the check before the graph is built probes layers 0 and 1, so
    // layer 2's weights are checked as they are read, by the same check (checkedTensor).
    const short = (layer: number) => editedCopy('llada_s20', (t) => {
      const n = `model.transformer.blocks.${layer}.up_proj.weight`, w = t.get(n)!;
      t.set(n, { shape: [w.shape[0] - 1, w.shape[1]], data: w.data.subarray(0, (w.shape[0] - 1) * w.shape[1]) });
    });
    const message = async (dir: string) => (await loadHostModel(dir, { backend: 'reference' }).then(() => '', (e: Error) => e.message)).replaceAll(dir, 'DIR');
    const early = await message(short(0)), late = await message(short(2));
    expect(late).toMatch(/^DIR\/model\.safetensors: tensor 'model\.transformer\.blocks\.2\.up_proj\.weight' has shape \[\d+,\d+\], config\.json implies \[\d+,\d+\] \(DIR\/config\.json: key 'mlp_hidden_size' is \d+\)$/);
    expect(late).toBe(early.replace('blocks.0.', 'blocks.2.'));
  });

  it('config keys of the wrong type name the file and key', async () => {
    const dir = editedCopy('llada_s3', () => {});
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, n_heads: 'four' }));
    await expect(loadHostModel(dir)).rejects.toThrow(/config\.json: key 'n_heads' must be a non-negative integer, got "four"/);
  });
});
