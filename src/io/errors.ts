/**
 * Errors raised by the checkpoint I/O layer.
 *
 * One class for everything that is wrong with a file on disk (a checkpoint, an index, a
 * config, a tokenizer), so callers can tell "the user's files are bad" apart from bugs.
 */

/** A malformed or unreadable checkpoint / config / tokenizer file. The message names the file. */
export class CheckpointError extends Error {
  /** The file (or directory) at fault. */
  readonly file: string;
  /** The tensor (or JSON key) at fault, where there is one. */
  readonly tensor?: string;

  constructor(message: string, file: string, tensor?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CheckpointError';
    this.file = file;
    if (tensor !== undefined) this.tensor = tensor;
  }
}
