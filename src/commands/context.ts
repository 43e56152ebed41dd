/** What every admin command starts from: the config, its storage, and a way to close both. */
import { userInfo } from 'node:os';
import cliProgress from 'cli-progress';
import { read } from 'read';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log.ts';
import { createMetrics } from '../metrics.ts';
import { Registry } from '../repos/registry.ts';
import { openStorage, type Storage } from '../storage/open.ts';
import type { Actor } from '../storage/types.ts';

/** A command used wrongly (unknown user, bad flag value): printed as it is, exit 1. */
export class UsageError extends Error {}

export interface CommonOptions {
  config?: string;
  storage?: string;
}

/** Where text goes: process.stdout / process.stderr, or a test's buffer. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * What a command reads and writes besides its storage: the process's own
 * streams for the real binary (processIo), a test's buffers when the command
 * runs in-process. stdout is the command's output; messages, password prompts
 * and logs go to stderr.
 */
export interface Io {
  stdout: TextSink;
  stderr: TextSink;
  /** What `--password-stdin` reads, to its end. */
  stdin: AsyncIterable<Buffer | string>;
  /** Asks a person at a terminal, without echo; null when there is no terminal. */
  ask: ((prompt: string) => Promise<string>) | null;
  /** The logger of commands that build the repositories: warnings on stderr, never on stdout. */
  logger(): Logger;
  /** PYDEPOT_LISTEN and PYDEPOT_STORAGE are read from here. */
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal: long commands draw a progress bar there (else they print plain lines). Absent: not one. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/** Prompts go to stderr: stdout stays the command's output. */
async function askOnTerminal(prompt: string): Promise<string> {
  const answer = await read({ prompt, silent: true, replace: '', output: process.stderr });
  process.stderr.write('\n');
  return answer;
}

/** The real binary's: the process's streams, its terminal if stdin is one, its environment. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // Looked at only when a command needs them: process.stdin is made on first use.
    get stdin() { return process.stdin; },
    get ask() { return process.stdin.isTTY ? askOnTerminal : null; },
    logger: () => createLogger('warn', 'stderr'),
    env: process.env,
    get isTTY() { return process.stderr.isTTY === true; },
    get columns() { return process.stderr.columns; },
  };
}

/** One line of the command's output. */
export function printOut(io: Io, line: string): void {
  io.stdout.write(`${line}\n`);
}

/** One line for the person running the command (stderr). */
export function printErr(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}

export function configFrom(opts: CommonOptions & { listen?: string }, io: Io): Config {
  return loadConfig(opts.config ?? DEFAULT_CONFIG_FILE, { listen: opts.listen, storage: opts.storage }, io.env);
}

/** Opens the storage for `f`, closes it after, whatever happens. */
export async function withStorage<T>(opts: CommonOptions, io: Io, f: (storage: Storage, config: Config) => Promise<T> | T): Promise<T> {
  const config = configFrom(opts, io);
  const storage = await openStorage(config.storage, config.blobs);
  try {
    return await f(storage, config);
  } finally {
    await storage.store.close();
  }
}

/** Like withStorage, with the repositories built too. Logs go to stderr: stdout is the command's output. */
export async function withRegistry<T>(opts: CommonOptions, io: Io, f: (registry: Registry, storage: Storage, config: Config) => Promise<T> | T): Promise<T> {
  return withStorage(opts, io, async (storage, config) => {
    const registry = new Registry(config, { ...storage, logger: io.logger(), metrics: createMetrics() });
    try {
      return await f(registry, storage, config);
    } finally {
      await registry.close();
    }
  });
}

/** Who ran an admin command, for the audit trail. */
export function cliActor(): Actor {
  return { user: cliUser(), tokenId: null, address: null };
}

function cliUser(): string {
  let name = process.env.SUDO_USER || process.env.USER || '';
  try {
    name ||= userInfo().username;
  } catch {
    // No passwd entry (some containers): the uid still says something.
    name ||= String(process.getuid?.() ?? 'unknown');
  }
  return `cli:${name}`;
}

/**
 * A cli-progress bar drawn on the command's stderr terminal, started by the
 * first `show` (the total is known only then) and stopped at most once: the
 * one place the commands' progress bars are built.
 */
export function terminalBar(io: Io, options: { format: string; fps?: number; etaBuffer?: number }): {
  show(value: number, total: number, payload: Record<string, unknown>): void;
  /** Moves a started bar; before the first `show` it does nothing. */
  update(value: number, payload: Record<string, unknown>): void;
  stop(): void;
} {
  const stream = { isTTY: true, columns: io.columns ?? 80, write: (text: string) => io.stderr.write(text) };
  const bar = new cliProgress.SingleBar({
    stream: stream as unknown as NodeJS.WritableStream,
    barsize: 20,
    hideCursor: true,
    clearOnComplete: true,
    ...options,
  }, cliProgress.Presets.shades_classic);
  let running = false;
  return {
    show(value, total, payload) {
      if (!running) {
        running = true;
        bar.start(total, value, payload);
      } else {
        bar.update(value, payload);
      }
    },
    update(value, payload) {
      if (running) bar.update(value, payload);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
