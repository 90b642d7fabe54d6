import { decodeIds } from '../../src/decode/generate.ts';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import type { GoldenCase } from '../helpers/golden.ts';
import { hostModel } from '../helpers/cached.ts';

/** Decodes one case on the CPU and returns what differs from the vectors (empty when exact). */
export async function checkCase(c: GoldenCase): Promise<string[]> {
  return checkCaseOn(await hostModel(c.model), c);
}

/** Decodes one case with a loaded model (CPU or GPU) and returns what differs (empty when exact). */
export function checkCaseOn(m: LoadedModel, c: GoldenCase): string[] {
  const perStep: { kind: string; n: number; pos: number[] }[] = [];
  let result;
  for (const ev of decodeIds(m, [c.prompt], caseOptions(c))) {
    if (ev.type === 'step') {
      const r = ev.rows.find((x) => x.row === 0);
      const pos = (r?.positions ?? []).map((p) => p + c.prompt.length).sort((a, b) => a - b);
      perStep.push({ kind: ev.kind, n: pos.length, pos });
    } else if (ev.type === 'done') result = ev.result;
  }
  const bad: string[] = [];
  if (JSON.stringify(result!.tokens[0]) !== JSON.stringify(c.generated)) bad.push(`tokens ${JSON.stringify(result!.tokens[0])} != ${JSON.stringify(c.generated)}`);
  if (result!.nfe !== c.nfe) bad.push(`nfe ${result!.nfe} != ${c.nfe}`);
  const tps = perStep.map((s) => s.n);
  if (JSON.stringify(tps) !== JSON.stringify(c.tokens_per_step)) bad.push(`tokens_per_step ${JSON.stringify(tps)} != ${JSON.stringify(c.tokens_per_step)}`);
  else if (JSON.stringify(perStep) !== JSON.stringify(c.steps)) bad.push(`steps differ: ${JSON.stringify(perStep)} vs ${JSON.stringify(c.steps)}`);
  return bad;
}

