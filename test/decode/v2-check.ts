import { decodeIds } from '../../src/decode/generate.ts';
import type { GenerateOptions } from '../../src/decode/options.ts';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';
import type { V2Case } from '../helpers/v2-fixtures.ts';

/** A v2 vector's parameters as fastdllm's options (every id passed, as the vectors say). */
export function v2CaseOptions(c: V2Case): GenerateOptions {
  const p = c.params;
  return { genLength: p.gen_length, smallBlock: p.small_block, threshold: p.threshold, blockCache: p.use_block_cache, maskId: p.mask_id, stopId: p.stop_id, padId: p.pad_id };
}

/** Decodes one v2 case and lists what differs from the vector (tokens, nfe, step trace); empty when exact. */
export function checkV2Case(m: LoadedModel, c: V2Case): string[] {
  const steps: { kind: string; n: number; pos: number[] }[] = [];
  let result;
  for (const ev of decodeIds(m, [c.prompt], v2CaseOptions(c))) {
    if (ev.type === 'step') {
      const pos = (ev.rows.find((r) => r.row === 0)?.positions ?? []).map((p) => p + c.prompt.length).sort((a, b) => a - b);
      steps.push({ kind: ev.kind, n: pos.length, pos });
    } else if (ev.type === 'done') result = ev.result;
  }
  const bad: string[] = [];
  if (!result) return ['no result'];
  if (JSON.stringify(result.tokens[0]) !== JSON.stringify(c.generated)) bad.push(`tokens ${JSON.stringify(result.tokens[0])} != ${JSON.stringify(c.generated)}`);
  if (result.nfe !== c.nfe) bad.push(`nfe ${result.nfe} != ${c.nfe}`);
  if (JSON.stringify(steps) !== JSON.stringify(c.steps)) bad.push(`steps ${JSON.stringify(steps)} != ${JSON.stringify(c.steps)}`);
  return bad;
}
