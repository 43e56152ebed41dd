/**
 * `pydepot ARGS` run in-process: the program buildCli() builds, writing to
 * buffers of its own instead of the process's streams, so that tests in one
 * file can run commands concurrently. What a real run would print and exit
 * with: the exit code and the `pydepot: …` line come from failure(), the
 * function main.ts uses. test/cli/cli.test.ts keeps one spawned run of the
 * real binary (src/main.ts).
 */
import { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { buildCli, failure, type Io } from '../../src/cli.ts';
import type { RunResult } from './clients.ts';
import { backendArgs } from './test-backend.ts';

export interface CliOptions {
  /** What the command reads on stdin (`--password-stdin`): a pipe, never a terminal. */
  input?: string;
  /** PYDEPOT_* variables the command sees. Default none: the config file and flags decide. */
  env?: NodeJS.ProcessEnv;
  /** Make stderr a terminal (100 columns): progress bars are drawn. Default: not one. */
  tty?: boolean;
}

export async function pydepot(args: string[], opts: CliOptions = {}): Promise<RunResult> {
  // On PYDEPOT_TEST_BACKEND's back end: the storage folder's database and S3 prefix added to the config.
  args = await backendArgs(args, opts.env);
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: { write: (text: string) => { stdout += text; } },
    stderr: { write: (text: string) => { stderr += text; } },
    stdin: Readable.from(opts.input ? [Buffer.from(opts.input, 'utf8')] : []),
    // No terminal: a command that would prompt refuses, as it does with stdin a pipe.
    ask: null,
    // The real binary's logger writes JSON lines to fd 2; this one to the same buffer as stderr.
    logger: () => pino({ level: 'warn' }, new Writable({
      write(chunk: Buffer, _encoding, callback) {
        stderr += chunk.toString('utf8');
        callback();
      },
    })),
    env: opts.env ?? {},
    isTTY: opts.tty === true,
    columns: 100,
  };
  try {
    await buildCli(io).parseAsync(args, { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const { code, message } = failure(err);
    if (message !== null) stderr += `${message}\n`;
    return { code, stdout, stderr };
  }
}
