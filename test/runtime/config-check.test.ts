import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostModel } from '../../src/runtime/model.ts';
import { modelDir } from '../helpers/golden.ts';

/** A copy of a fixture model (checkpoint untouched) whose config.json has `change` applied. */
function withConfig(name: string, change: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-config-'));
  cpSync(modelDir(name), dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, ...change }));
  return dir;
}

// The config is checked against the checkpoint's tensors before any graph is built: these
// configs once hung (a graph of a billion layers) or reached the C++ compiler (d_model 2^40).
// The time limits hold that: refused at once, nothing compiled.
describe('a config.json that does not fit its checkpoint is refused before any graph is built', () => {
  it('n_layers 1000000000: names the key and the first missing layer', async () => {
    const dir = withConfig('llada_s3', { n_layers: 1_000_000_000 });
    await expect(loadHostModel(dir, { backend: 'reference' })).rejects.toThrow(/config\.json: key 'n_layers' is 1000000000, but the checkpoint has 2 layers \(tensor 'model\.transformer\.blocks\.2\.[^']+' missing\)/);
  }, 5_000);

  it('fewer layers than the checkpoint holds: names the key and the extra layer', async () => {
    const dir = withConfig('dream_s3', { num_hidden_layers: 1 });
    await expect(loadHostModel(dir, { backend: 'reference' })).rejects.toThrow(/config\.json: key 'num_hidden_layers' is 1, but the checkpoint has 2 layers \(it has tensor 'model\.layers\.1\.[^']+'\)/);
  }, 5_000);

  it('d_model 2^40: names the tensor and the key, and compiles nothing', async () => {
    const dir = withConfig('llada_s3', { d_model: 2 ** 40 });
    await expect(loadHostModel(dir)).rejects.toThrow(/model\.safetensors: tensor '[^']+' has shape \[\d+,\d+\], config\.json implies \[[\d,]*1099511627776[\d,]*\] \(.*config\.json: key 'd_model' is 1099511627776\)/);
  }, 5_000);

  it('the fixture itself still loads (the check passes a checkpoint that fits)', async () => {
    const m = await loadHostModel(withConfig('llada_s3', {}), { backend: 'reference' });
    expect(m.config.nLayers).toBe(2);
  });
});
