import { loadHostModel } from '../../src/runtime/model.ts';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';
import { fixtureModelDir } from './v2-fixtures.ts';

/**
 * `load` called once per argument list (joined by spaces), its result (a model's promise) kept
 * for the test file: a file whose tests share a fixture model loads and compiles it once.
 */
export function cached<A extends (string | number)[], V>(load: (...args: A) => V): (...args: A) => V {
  const seen = new Map<string, V>();
  return (...args) => {
    const key = args.join(' ');
    if (!seen.has(key)) seen.set(key, load(...args));
    return seen.get(key)!;
  };
}

/** A fixture model (test/fixtures/models/manifest.json's name, v1 or v2) on the native CPU backend, loaded once per file. */
export const hostModel = cached((name: string): Promise<LoadedModel> => loadHostModel(fixtureModelDir(name), { backend: 'native' }));
