import type { Model } from '../api.ts';
import type { DecodeEvent } from '../decode/session.ts';

/**
 * --visualize: redraws each row's canvas after every step. Masks are dim dots, tokens decoded in
 * this step are highlighted, earlier ones plain; one line per row, with the step kind and nfe.
 */
export class CanvasView {
  private readonly rows: (number | null)[][];
  private drawn = 0;
  private readonly tty = process.stdout.isTTY;

  constructor(private readonly model: Model, batch: number, genLength: number) {
    this.rows = Array.from({ length: batch }, () => new Array<number | null>(genLength).fill(null));
  }

  private piece(id: number): string {
    const t = this.model.tokenizer;
    const s = t ? t.decode([id], { skipSpecialTokens: false }) : String(id);
    return (s.length ? s : `<${id}>`).replace(/\n/g, '⏎');
  }

  step(ev: Extract<DecodeEvent, { type: 'step' }>): void {
    const fresh = new Set<string>();
    for (const r of ev.rows) r.positions.forEach((p, i) => { this.rows[r.row][p] = r.tokens[i]; fresh.add(`${r.row}:${p}`); });
    const lines = this.rows.map((row, b) => row.map((id, p) => {
      if (id === null) return this.tty ? '\x1b[2m·\x1b[0m' : '·';
      const s = this.piece(id);
      return fresh.has(`${b}:${p}`) && this.tty ? `\x1b[1;32m${s}\x1b[0m` : s;
    }).join(this.model.tokenizer ? '' : ' '));
    if (this.tty && this.drawn) process.stdout.write(`\x1b[${this.drawn}A\x1b[J`);
    const header = `step ${ev.nfe} (${ev.kind}, block ${ev.block}): +${ev.rows.reduce((s, r) => s + r.positions.length, 0)}`;
    process.stdout.write(`${header}\n${lines.join('\n')}\n`);
    this.drawn = this.tty ? lines.length + 1 : 0;
  }
}
