import { describe, expect, it } from 'vitest';
import { decodeIds } from '../../src/decode/generate.ts';
import { generateStream } from '../../src/api.ts';
import { v2CaseOptions } from './v2-check.ts';
import { loadV2Cases, onePerPromptLength, v2Groups, v2ModelWithTokenizer as withTokenizer, type V2Case } from '../helpers/v2-fixtures.ts';
import { hostModel as host } from '../helpers/cached.ts';

const cases = loadV2Cases();

/** Cases sharing model and parameters, one per prompt length (groups of at least 3). */
function groups(): V2Case[][] {
  return [...v2Groups(cases).values()].map(onePerPromptLength).filter((g) => g.length >= 3);
}

/** Per row, its block/sub steps as (kind, absolute positions): what the vectors list for those kinds. */
const trace = (c: V2Case) => c.steps.filter((s) => s.kind === 'block' || s.kind === 'sub').map((s) => `${s.kind}:${s.pos.join(',')}`);

describe('Fast-dLLM v2 batches decode together, each row as alone', () => {
  // Per model and block-cache setting, the group with the most prompt lengths and blocks.
  const picked: V2Case[][] = [];
  for (const model of ['v2_s3', 'v2_s5', 'v2_s20', 'v2_s60']) {
    for (const bc of [false, true]) {
      const gs = groups().filter((g) => g[0].model === model && g[0].params.use_block_cache === bc);
      gs.sort((a, b) => b.length * 1000 + b[0].params.gen_length - (a.length * 1000 + a[0].params.gen_length));
      if (gs[0]) picked.push(gs[0]);
    }
  }

  it('the picked batches cover both cache settings, several blocks, mixed prompt blocks and a row that stops early', () => {
    expect(picked.length).toBe(8);
    expect(picked.some((g) => g[0].params.gen_length >= 64)).toBe(true);
    expect(picked.every((g) => g.some((c) => c.prompt.length < 32) && g.some((c) => c.prompt.length > 32))).toBe(true);
    expect(picked.some((g) => g.some((c) => c.generated.length < c.params.gen_length))).toBe(true);
  });

  for (const g of picked) {
    const p = g[0].params;
    it(`${g[0].model}, block cache ${p.use_block_cache}, gen ${p.gen_length}, prompts of ${g.map((c) => c.prompt.length).join('/')}: tokens, own nfe and own steps as alone`, async () => {
      const m = await host(g[0].model);
      const steps = g.map(() => [] as string[]);
      let result;
      for (const ev of decodeIds(m, g.map((c) => c.prompt), v2CaseOptions(g[0]))) {
        if (ev.type === 'step' && (ev.kind === 'block' || ev.kind === 'sub')) {
          for (const r of ev.rows) steps[r.row].push(`${ev.kind}:${r.positions.map((q) => q + g[r.row].prompt.length).sort((a, b) => a - b).join(',')}`);
        } else if (ev.type === 'done') result = ev.result;
      }
      expect(result!.tokens).toEqual(g.map((c) => c.generated));
      expect(result!.rowNfe).toEqual(g.map((c) => c.nfe));
      expect(steps).toEqual(g.map(trace));
      // Shared calls: fewer than the rows' forwards together, at least the busiest row's.
      expect(result!.nfe).toBeLessThan(g.reduce((s, c) => s + c.nfe, 0));
      expect(result!.nfe).toBeGreaterThanOrEqual(Math.max(...g.map((c) => c.nfe)));
    });
  }
});

describe('generateStream on a v2 model', () => {
  // A batch with a custom stop id that one row reaches, several blocks, and a block-aligned
  // prompt (its AR token comes from the prefill).
  const g = groups().filter((x) => x[0].params.gen_length >= 96 && x.some((c) => c.generated.includes(c.params.stop_id)) && x.some((c) => c.prompt.length % 32 === 0))
    .sort((a, b) => b.length - a.length)[0];

  it('sends each block\'s text, AR tokens included, before the next block\'s first forward; events concatenate to the final text', async () => {
    expect(g, 'a group with a stop, >= 3 blocks and a block-aligned prompt').toBeDefined();
    const p = g[0].params;
    expect(p.stop_id).not.toBe(p.pad_id);
    const { model, text } = await withTokenizer(g[0].model, p.stop_id, p.mask_id);
    const want = g.map((c) => text(c.generated.includes(p.stop_id) ? c.generated.slice(0, c.generated.indexOf(p.stop_id)) : c.generated));
    /** Row r's text once block j is final: its tokens through that block's end and AR token. */
    const upTo = (r: number, j: number) => {
      const c = g[r], through = (Math.floor(c.prompt.length / 32) + j + 1) * 32 - c.prompt.length + 1;
      const ids = c.generated.slice(0, through);
      return text(ids.includes(p.stop_id) ? ids.slice(0, ids.indexOf(p.stop_id)) : ids);
    };
    const got = g.map(() => '');
    let finalText: string[] = [], blocksSeen = 0, checked = 0;
    for await (const ev of generateStream(model, g.map((c) => c.prompt), v2CaseOptions(g[0]))) {
      if (ev.type === 'text') got[ev.row] += ev.text;
      else if (ev.type === 'block') blocksSeen = ev.block + 1;
      else if (ev.type === 'step' && ev.block === blocksSeen && blocksSeen > 0) {
        // First forward of a later block: every earlier block's text is already out.
        g.forEach((_, r) => expect(got[r], `row ${r} before block ${ev.block}`).toBe(upTo(r, blocksSeen - 1)));
        checked++;
      } else if (ev.type === 'done') finalText = ev.result.text;
    }
    expect(checked).toBeGreaterThanOrEqual(2);
    expect(finalText).toEqual(want);
    expect(got).toEqual(want);
    expect(want.some((t) => t.length > 0)).toBe(true);
  });
});
