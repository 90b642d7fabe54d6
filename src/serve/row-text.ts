import { decodeText, type Model } from '../api.ts';
import { StreamingDetokenizer } from '../io/tokenizer.ts';
import { committedIds } from '../decode/generate.ts';

/**
 * The text of one row as it becomes final: the decoded prefix with no mask before it, cut at
 * the first EOS and at the first stop string, never half a UTF-8 character (the streaming
 * detokenizer), with the tail that could still grow into a stop string held back.
 */
export class RowText {
  private readonly detok: StreamingDetokenizer | undefined;
  private sent = '';
  /** A stop string was seen: the text is final at what was sent. */
  stopped = false;

  constructor(private readonly model: Model, private readonly stops: string[]) {
    this.detok = model.tokenizer ? new StreamingDetokenizer(model.tokenizer) : undefined;
  }

  /** New text that is safe to send after a step ('' when none). */
  update(canvas: readonly number[]): string {
    if (!this.detok || this.stopped) return '';
    this.detok.push(committedIds(canvas, this.model.host.config.eosId, this.maskId()));
    return this.emit(this.detok.text(), false);
  }

  /** The rest of the text once the row is final; `text()` is then the whole answer. */
  finish(canvas: readonly number[]): string {
    if (this.stopped) return '';
    return this.emit(decodeText(this.model, [...canvas]), true);
  }

  /** Everything sent so far. */
  text(): string {
    return this.sent;
  }

  private emit(full: string, final: boolean): string {
    let end = full.length;
    const cut = this.stops.map((s) => full.indexOf(s)).filter((i) => i >= 0);
    if (cut.length) {
      end = Math.min(...cut);
      this.stopped = true;
    } else if (!final) {
      end -= heldBack(full, this.stops);
    }
    // The final decode is authoritative; streamed deltas are its prefixes in practice.
    const delta = full.startsWith(this.sent) ? full.slice(this.sent.length, Math.max(end, this.sent.length)) : '';
    this.sent += delta;
    return delta;
  }

  private maskId(): number {
    return this.model.host.config.maskId;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of a stop string. */
function heldBack(text: string, stops: string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
      if (text.endsWith(s.slice(0, n))) { best = n; break; }
    }
  }
  return best;
}
