import { OptionError } from '../decode/options.ts';
import { UsageError, flagOf } from './args.ts';

type Command = (argv: string[]) => Promise<number>;

/** Sub-commands, loaded lazily so `fastdllm info` does not pay for the decoder or the GPU code. */
const COMMANDS: Record<string, { about: string; load: () => Promise<Command> }> = {
  generate: { about: 'decode with Fast-dLLM (prefix/dual KV cache, threshold/factor parallel decoding)', load: async () => (await import('./commands/generate.ts')).generateCommand },
  forward: { about: 'print the logits of one forward pass', load: async () => (await import('./commands/forward.ts')).forwardCommand },
  info: { about: 'architecture, parameters, dtypes and memory of a checkpoint', load: async () => (await import('./commands/info.ts')).infoCommand },
  'random-checkpoint': { about: 'write a random-weight checkpoint of any config (streamed)', load: async () => (await import('./commands/random-checkpoint.ts')).randomCheckpointCommand },
  eval: { about: 'accuracy / speed table over decoding modes (arith or GSM8K)', load: async () => (await import('./commands/eval.ts')).evalCommand },
  tune: { about: 'autotune the GEMM kernels of a model for this machine\'s CPU (or its GPU: --device cuda)', load: async () => (await import('./commands/tune.ts')).tuneCommand },
  serve: { about: 'an OpenAI-compatible HTTP server with batching that never changes an answer', load: async () => (await import('./commands/serve.ts')).serveCommand },
  inspect: { about: 'list and print the generated kernels of a model', load: async () => (await import('./commands/inspect.ts')).inspectCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(18)} ${c.about}`);
  return `usage: fastdllm <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun \`fastdllm <command> --help\` for its flags.\n`;
}

/** Entry point of the `fastdllm` bin; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`fastdllm: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load())(rest);
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError) process.stderr.write(`fastdllm ${name}: ${err.message}\n`);
    else if (err instanceof OptionError) process.stderr.write(`fastdllm ${name}: ${flagOf(err.option)}: ${err.message.slice(err.option.length + 2)}\n`);
    else if (process.env.FASTDLLM_DEBUG) process.stderr.write(`fastdllm ${name}: ${err.stack}\n`);
    else process.stderr.write(`fastdllm ${name}: ${err.message}\n`);
    return err instanceof UsageError || err instanceof OptionError ? 2 : 1;
  }
}
