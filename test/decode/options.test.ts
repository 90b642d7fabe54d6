import { describe, expect, it } from 'vitest';
import { resolveOptions, OptionError, type GenerateOptions } from '../../src/decode/options.ts';
import { decodeIds } from '../../src/decode/generate.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { modelDir } from '../helpers/golden.ts';

const lladaModel = await loadHostModel(modelDir('llada_s3'), { backend: 'reference' });
const dreamModel = await loadHostModel(modelDir('dream_s3'), { backend: 'reference' });

function refused(model: typeof lladaModel, o: GenerateOptions, option: string, pattern: RegExp, prompt = [1, 2, 3]) {
  let forwards = 0;
  const counting = { ...model, executor: { run: (...a: Parameters<typeof model.executor.run>) => { forwards++; return model.executor.run(...a); } } } as typeof model;
  const it = decodeIds(counting, [prompt], o);
  let err: unknown;
  try {
    it.next();
  } catch (e) {
    err = e;
  }
  expect(err, `${option} should be refused`).toBeInstanceOf(OptionError);
  expect((err as OptionError).option).toBe(option);
  expect((err as Error).message).toMatch(pattern);
  expect(forwards).toBe(0);
}

describe('invalid options are refused before any work, naming the option', () => {
  it('LLaDA', () => {
    refused(lladaModel, { genLength: 32, threshold: 0 }, 'threshold', /\(0, 1\]/);
    refused(lladaModel, { genLength: 32, threshold: 1.01 }, 'threshold', /\(0, 1\]/);
    refused(lladaModel, { genLength: 32, factor: 0 }, 'factor', /> 0/);
    refused(lladaModel, { genLength: 32, factor: -1 }, 'factor', /> 0/);
    refused(lladaModel, { genLength: 32, threshold: 0.9, factor: 1 }, 'threshold', /exclusive/);
    refused(lladaModel, { genLength: 30, blockLength: 8 }, 'blockLength', /not a multiple of blockLength 8/);
    refused(lladaModel, { genLength: 32, blockLength: 8, steps: 6 }, 'steps', /multiple of the number of blocks 4/);
    refused(lladaModel, { genLength: 4096, blockLength: 32 }, 'genLength', /exceeds the model's maximum of 4096/);
    refused(lladaModel, { genLength: 32, maskId: 99999 }, 'maskId', /outside the vocabulary/);
    refused(lladaModel, { genLength: 32, alg: 'entropy' }, 'alg', /no alg option/);
    refused(lladaModel, { genLength: 32 }, 'prompt', /empty/, []);
    refused(lladaModel, { genLength: 32, cache: 'dual', cfgScale: 1 }, 'cfgScale', /cache none/);
  });

  it('Dream', () => {
    refused(dreamModel, { genLength: 32, alg: 'origin' as never }, 'alg', /unknown for dream/);
    refused(dreamModel, { genLength: 32, factor: 1 }, 'factor', /no factor mode/);
    refused(dreamModel, { genLength: 32, steps: 5, threshold: 0.9 }, 'steps', /multiple of steps 5/);
    refused(dreamModel, { genLength: 32, alg: 'entropy', threshold: 0.5 }, 'threshold', /takes no threshold/);
  });

  it('token ids outside the vocabulary are refused', () => {
    expect(() => decodeIds(lladaModel, [[1, 99999]], { genLength: 8 }).next()).toThrow(/id 99999 at index 1 is outside the vocabulary \[0, 256\)/);
  });

  it('defaults: steps = genLength, block 32, maskId from the config', () => {
    const r = resolveOptions({ genLength: 64, cache: 'dual', threshold: 0.9 }, lladaModel.config, [5]);
    expect(r.steps).toBe(64);
    expect(r.blockLength).toBe(32);
    expect(r.maskId).toBe(lladaModel.config.maskId);
  });
});
