/** Shared helpers of the io tests: temp dirs and hand-built safetensors files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { CheckpointError } from '../../src/io/errors.ts';

/** A fresh temp directory; removed by the returned cleanup. */
export function tempDir(prefix = 'fastdllm-io-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Bytes of a safetensors file with `header` (object or raw text) and `data`, header length as given or true. */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): Buffer {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const body = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(body.length), 0);
  return Buffer.concat([len, body, data]);
}

/** Run `fn`, expect a CheckpointError whose message contains every one of `parts`. */
export function expectCheckpointError(fn: () => unknown, ...parts: string[]): CheckpointError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  const ce = err as CheckpointError;
  for (const p of parts) expect(ce.message).toContain(p);
  return ce;
}
