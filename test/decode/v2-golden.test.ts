import { describe, expect, it } from 'vitest';
import { decodeIds, decodeIdsToEnd } from '../../src/decode/generate.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { checkV2Case, v2CaseOptions } from './v2-check.ts';
import { fixtureModelDir, loadV2Cases, v2Groups, type V2Case } from '../helpers/v2-fixtures.ts';
import { hostModel as model } from '../helpers/cached.ts';
import { groupBy } from '../helpers/group-by.ts';
import { modelDir } from '../helpers/golden.ts';
import { cli } from '../helpers/cli.ts';

const cases = loadV2Cases();

describe(`Fast-dLLM v2 golden cases (${cases.length})`, () => {
  const byModel = groupBy(cases, (c) => c.model);
  it('covers every kind of forward, both cache settings, finishes and every prompt-length class', () => {
    expect(cases.length).toBe(1355);
    expect(new Set(cases.flatMap((c) => c.steps.map((s) => s.kind)))).toEqual(new Set(['prefill', 'block', 'sub', 'commit']));
    expect(new Set(cases.map((c) => c.params.use_block_cache))).toEqual(new Set([true, false]));
    expect(cases.some((c) => c.generated.includes(c.params.stop_id))).toBe(true);
    expect(cases.some((c) => c.upstream_crashes)).toBe(true);
    const lengths = new Set(cases.map((c) => c.prompt.length));
    expect([...lengths].some((n) => n < 32) && [...lengths].some((n) => n > 32 && n % 32 === 0) && [...lengths].some((n) => n > 32 && n % 32 !== 0)).toBe(true);
  });
  for (const [name, group] of byModel) {
    it(`${name}: ${group.length} cases give exactly their tokens, nfe and per-forward positions`, async () => {
      const m = await model(name);
      const failures: string[] = [];
      for (const c of group) {
        const bad = checkV2Case(m, c);
        if (bad.length) failures.push(`${c.id}: ${bad.join('; ')}`);
      }
      expect(failures.slice(0, 3), `${failures.length} of ${group.length} cases differ`).toEqual([]);
    });
  }
});

/** Cases of one model and parameter set with the most distinct prompt lengths (block cache and a finish preferred). */
function batchGroup(): V2Case[] {
  const score = (g: V2Case[]) => new Set(g.map((c) => c.prompt.length)).size * 4
    + (g[0].params.use_block_cache ? 2 : 0) + (g.some((c) => c.generated.includes(c.params.stop_id)) ? 1 : 0);
  return [...v2Groups(cases).values()].sort((a, b) => score(b) - score(a))[0];
}

describe('Fast-dLLM v2 batches and options', () => {
  it('a batch of prompts of different lengths gives each row what it gives alone', async () => {
    const group = batchGroup();
    expect(new Set(group.map((c) => c.prompt.length)).size).toBeGreaterThanOrEqual(4);
    const m = await model(group[0].model);
    const seen = new Set<number>();
    let result;
    for (const ev of decodeIds(m, group.map((c) => c.prompt), v2CaseOptions(group[0]))) {
      if (ev.type === 'step') ev.rows.forEach((r) => seen.add(r.row));
      else if (ev.type === 'done') result = ev.result;
    }
    expect(result!.tokens).toEqual(group.map((c) => c.generated));
    // Each row makes the forwards it makes alone; the rows share calls, so the batch makes fewer.
    expect(result!.rowNfe).toEqual(group.map((c) => c.nfe));
    expect(result!.nfe).toBeLessThan(group.reduce((s, c) => s + c.nfe, 0));
    expect(result!.nfe).toBeGreaterThanOrEqual(Math.max(...group.map((c) => c.nfe)));
    expect([...seen].sort()).toEqual(group.map((_, i) => i).filter((i) => group[i].steps.some((s) => s.n > 0)));
  });

  it('takes the mask, stop and pad ids from config.json when not given', async () => {
    // v2_s3's config.json: mask 250, eos 248, pad 248; a case that stops at the EOS.
    const c = cases.find((x) => x.model === 'v2_s3' && x.params.stop_id === 248 && x.params.pad_id === 248 && x.generated.includes(248));
    const m = await model('v2_s3');
    expect([m.config.maskId, m.config.eosId, m.config.padId]).toEqual([c!.params.mask_id, 248, 248]);
    const r = decodeIdsToEnd(m, [c!.prompt], { genLength: c!.params.gen_length, smallBlock: c!.params.small_block, threshold: c!.params.threshold, blockCache: c!.params.use_block_cache });
    expect(r.tokens[0]).toEqual(c!.generated);
    expect(r.nfe).toBe(c!.nfe);
  });

  it('accepts strictly above the threshold: at threshold 1 every step decodes one token, even among saturated probabilities', async () => {
    // v2_s60 saturates probabilities to exactly 1.0; the vectors drop such ties, so check the rule itself.
    const m = await model('v2_s60');
    const prompts = [...new Map(cases.filter((c) => c.model === 'v2_s60').map((c) => [c.prompt.join(), c.prompt])).values()].slice(0, 24);
    let steps = 0, saturated = 0;
    for (const p of prompts) {
      for (const ev of decodeIds(m, [p], { genLength: 64, threshold: 1 })) {
        if (ev.type !== 'step' || ev.rows.length === 0) continue;
        steps++;
        expect(ev.rows[0].positions.length).toBe(1);
        saturated += ev.rows[0].confidences.filter((c) => c === 1).length;
      }
    }
    expect(steps).toBeGreaterThan(100);
    expect(saturated).toBeGreaterThan(0);
  });

  it('refuses bad or v1-only options on a v2 model and v2 options on a v1 model, naming them', async () => {
    const m = await model('v2_s3');
    const base = { genLength: 32 };
    const refuse = (o: object, re: RegExp) => expect(() => decodeIdsToEnd(m, [[1, 2, 3]], { ...base, ...o })).toThrow(re);
    refuse({ smallBlock: 5 }, /^smallBlock: must be a positive integer dividing the block length 32, got 5/);
    refuse({ threshold: 0 }, /^threshold: must be in \(0, 1\]/);
    refuse({ threshold: 1.5 }, /^threshold: must be in \(0, 1\]/);
    refuse({ cache: 'dual' }, /^cache: "dual" is a Fast-dLLM v1 cache/);
    refuse({ steps: 32 }, /^steps: not an option of fast_dllm_qwen models/);
    refuse({ blockLength: 16 }, /^blockLength: .* blocks of bd_size 32/);
    refuse({ genLength: 16 }, /^genLength: must be at least the block length 32/);
    refuse({ temperature: 0.5 }, /^temperature: .* greedily/);
    refuse({ stopId: 9999 }, /^stopId: 9999 is outside the vocabulary/);
    const dream = await loadHostModel(modelDir('dream_s3'), { backend: 'native' });
    expect(() => decodeIdsToEnd(dream, [[1, 2, 3]], { genLength: 8, smallBlock: 8 })).toThrow(/^smallBlock: only Fast-dLLM v2/);
  });
});

describe('fastdllm generate on a v2 model', () => {
  it('--json prints the tokens and nfe of a golden case (block cache, stop and pad ids as flags)', () => {
    const c = cases.find((x) => x.model === 'v2_s20' && x.params.use_block_cache && x.prompt.length === 45 && x.params.gen_length === 96 && x.steps.some((s) => s.kind === 'sub'))!;
    const p = c.params;
    const r = cli(['generate', '--model', fixtureModelDir(c.model), '--prompt-ids', c.prompt.join(','), '--gen-length', `${p.gen_length}`,
      '--small-block', `${p.small_block}`, '--threshold', `${p.threshold}`, '--block-cache', '--mask-id', `${p.mask_id}`,
      '--stop-id', `${p.stop_id}`, '--pad-id', `${p.pad_id}`, '--device', 'cpu', '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['tokens', 'text', 'nfe', 'tokensPerForward', 'tokensPerSecond']);
    expect(out.tokens).toEqual([c.generated]);
    expect(out.nfe).toBe(c.nfe);
  });

  it('refuses a v1-only flag and a bad --small-block, naming the flag', () => {
    const m = ['generate', '--model', fixtureModelDir('v2_s3'), '--prompt-ids', '1,2,3', '--device', 'cpu'];
    const a = cli([...m, '--cache', 'dual']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--cache: "dual" is a Fast-dLLM v1 cache/);
    const b = cli([...m, '--small-block', '5']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--small-block: must be a positive integer dividing the block length 32/);
  });
});
