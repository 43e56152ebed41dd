/**
 * Real Python clients (pip in a fresh venv, twine) for end-to-end tests.
 *
 * Every command runs without a shell, with a timeout, and in an environment
 * built from scratch: this machine's pip configuration adds foreign indexes
 * and find-links, and a stray TWINE_* or PIP_* variable would make a test
 * pass or fail for reasons that have nothing to do with pydepot.
 *
 * Missing clients: a test that needs one calls `requireClient(t, ...)` first
 * (`missingClient` for another program, such as the browser tests' Chromium).
 * It fails the test with the install command, unless PYDEPOT_OPTIONAL_CLIENTS=1,
 * in which case it logs "SKIPPED: ..." and passes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Added on top of the clean environment. */
  env?: Record<string, string>;
  /** Default 120 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** process.env without anything that configures pip, twine, poetry or a virtualenv. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith('PIP_') || k.startsWith('TWINE_') || k.startsWith('POETRY_')) continue;
    if (k === 'PYTHONPATH' || k === 'PYTHONHOME' || k === 'VIRTUAL_ENV' || k === 'PYTHONUSERBASE') continue;
    env[k] = v;
  }
  env.PIP_CONFIG_FILE = '/dev/null';
  env.PIP_NO_INPUT = '1';
  // Never talk to a keyring daemon (twine looks one up; pip only after a 401).
  env.PYTHON_KEYRING_BACKEND = 'keyring.backends.null.Keyring';
  // Rich (twine) wraps at 80 columns when not on a terminal; keep messages on one line.
  env.COLUMNS = '300';
  env.NO_COLOR = '1';
  return { ...env, ...extra };
}

/**
 * Runs a command (no shell) and resolves with its exit code and output. A
 * command that cannot start resolves with code 127; one that times out is
 * killed and resolves with code 124 and a note in stderr.
 */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (e) => {
      finish({ code: 127, stdout: Buffer.concat(out).toString('utf8'), stderr: `${Buffer.concat(err).toString('utf8')}\n${e.message}` });
    });
    child.on('close', (code, signal) => {
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\n[killed after ${timeoutMs} ms: ${command} ${args.join(' ')}]`;
      finish({ code: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

/** For assertion messages: the command's whole output. */
export function describe(result: RunResult): string {
  return `exit ${result.code}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

// --- Missing clients ---------------------------------------------------------

/** 'twine', 'poetry', or the Python used to create a venv ('python3', '/usr/bin/python3'). */
export type Client = 'twine' | 'poetry' | string;

export const INSTALL_HINTS: Record<string, string> = {
  twine: 'apt-get install -y twine',
  poetry: 'apt-get install -y python3-poetry',
  '/usr/bin/python3': 'apt-get install -y python3 python3-venv',
  python3: 'apt-get install -y python3 python3-venv (or `pyenv install 3.11` and `pyenv global 3.11`)',
};

const probes = new Map<string, Promise<string | null>>();

/** null when the client works, else why not. Probed once per process. */
function probe(client: Client): Promise<string | null> {
  let p = probes.get(client);
  if (!p) {
    p = (async () => {
      const r = client === 'twine' || client === 'poetry'
        ? await run(client, ['--version'], { timeoutMs: 60_000 })
        // venv needs ensurepip too (Debian ships it in python3-venv).
        : await run(client, ['-c', 'import venv, ensurepip'], { timeoutMs: 60_000 });
      return r.code === 0 ? null : (r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`);
    })();
    probes.set(client, p);
  }
  return p;
}

export async function clientAvailable(client: Client): Promise<boolean> {
  return (await probe(client)) === null;
}

/** null when the client works, else why not (its last line of output). */
export function whyMissing(client: Client): Promise<string | null> {
  return probe(client);
}

export function optionalClients(): boolean {
  return process.env.PYDEPOT_OPTIONAL_CLIENTS === '1';
}

/**
 * A program the test drives is missing (`message`: which, and how to install
 * it): the test fails, or, with PYDEPOT_OPTIONAL_CLIENTS=1, logs
 * "SKIPPED: ..." and passes. Returns false: the caller returns at once.
 */
export function missingClient(t: ExecutionContext, message: string): false {
  if (optionalClients()) {
    t.log(`SKIPPED: ${message} [PYDEPOT_OPTIONAL_CLIENTS=1]`);
    t.pass();
  } else {
    t.fail(`${message} (or set PYDEPOT_OPTIONAL_CLIENTS=1 to skip tests that need it)`);
  }
  return false;
}

/**
 * true when the client works. Otherwise `missingClient` with the install
 * command: the caller must return at once when this is false.
 */
export async function requireClient(t: ExecutionContext, client: Client): Promise<boolean> {
  const why = await probe(client);
  if (why === null) return true;
  const what = client === 'twine' || client === 'poetry' ? client : `${client} with venv/ensurepip`;
  const hint = INSTALL_HINTS[client] ?? `install ${client}`;
  return missingClient(t, `${what} is not installed or does not work (${why}): ${hint}`);
}

// --- pip in a venv -----------------------------------------------------------

export interface Venv {
  /** The venv's python. */
  python: string;
  /** `python -m pip --isolated --no-cache-dir --disable-pip-version-check <args>`. */
  pip: (args: string[], opts?: RunOptions) => Promise<RunResult>;
  /** `python <args>` inside the venv. */
  run: (args: string[], opts?: RunOptions) => Promise<RunResult>;
}

/**
 * A fresh venv in a temp dir, removed when the test ends. Call
 * `requireClient(t, python)` first; here a failure to create it throws.
 */
export async function venv(t: ExecutionContext, python = 'python3'): Promise<Venv> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-venv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const home = join(dir, 'venv');
  const created = await run(python, ['-m', 'venv', home]);
  if (created.code !== 0) throw new Error(`${python} -m venv failed: ${describe(created)}`);
  // Calling the venv's own python is all "activation" needs.
  const venvPython = join(home, 'bin', 'python');
  return {
    python: venvPython,
    pip: (args, opts) => run(venvPython, ['-m', 'pip', '--isolated', '--no-cache-dir', '--disable-pip-version-check', ...args], opts),
    run: (args, opts) => run(venvPython, args, opts),
  };
}

// --- twine -------------------------------------------------------------------

const NON_INTERACTIVE = new Set(['upload', 'register']);

/**
 * `twine <args>`, adding `--non-interactive` after the subcommand when it
 * has that option. Credentials (`-u`, `-p`) are the caller's business.
 */
export function twine(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [sub, ...rest] = args;
  const full = sub !== undefined && NON_INTERACTIVE.has(sub) && !rest.includes('--non-interactive') ? [sub, '--non-interactive', ...rest] : args;
  return run('twine', full, opts);
}
