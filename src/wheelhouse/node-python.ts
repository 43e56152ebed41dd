/**
 * The node's own Python, which `pydepot wheels build` resolves for and
 * builds with: its target (the stdlib one-liner of the README, run as a
 * subprocess, so the environment and tags are this interpreter's and not a
 * guess), its pip, and `pip wheel` on one sdist with a configuration of
 * pydepot's making alone.
 */
import { spawn } from 'node:child_process';
import { InvalidTarget } from '../errors.ts';
import { TARGET_FILE_SCRIPT_STDLIB, targetFromJson, type Target } from '../resolve/tags.ts';

export interface ProcessResult {
  /** Exit code; null when killed or never started. */
  code: number | null;
  /** The end of stdout and stderr together, as they came (at most TAIL_BYTES). */
  output: string;
  timedOut: boolean;
  /** Why it could not start (ENOENT…), else null. */
  spawnError: string | null;
}

/** What is kept of a build's output: its end is what explains a failure. */
const TAIL_BYTES = 256 * 1024;

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Every chunk of output as it comes (--verbose). */
  onOutput?: (chunk: string) => void;
}

/** Runs a command without a shell, stdin closed; never rejects. */
export function runProcess(command: string, args: readonly string[], opts: RunOptions): Promise<ProcessResult> {
  return new Promise((resolve) => {
    let tail = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      opts.onOutput?.(s);
      tail += s;
      if (tail.length > TAIL_BYTES * 2) tail = tail.slice(-TAIL_BYTES);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    // SIGKILL: a build that outlived its time is not asked to clean up. Ctrl-C needs
    // nothing here: the child is in the terminal's process group and gets it too.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const finish = (r: ProcessResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.on('error', (err: NodeJS.ErrnoException) => finish({ code: null, output: tail, timedOut: false, spawnError: err.code ?? err.message }));
    child.on('close', (code) => finish({ code, output: tail.slice(-TAIL_BYTES), timedOut, spawnError: null }));
  });
}

/** The last `n` non-blank lines of a command's output. */
export function lastLines(output: string, n = 10): string[] {
  return output.split(/\r?\n|\r/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '').slice(-n);
}

/**
 * pip's fixed closing words after a failed build (pip 23-26), and
 * traceback underlines, which say nothing about this build: left out, so
 * the lines kept are the build's own.
 */
const PIP_BOILERPLATE = [
  /^\s*note: This error originates from a subprocess, and is likely not a problem with pip\.$/,
  /^\s*note: This is an issue with the package mentioned above, not pip\.$/,
  /^\s*hint: See above for (details|output)\.$/,
  /^\s*╰─> See above for output\.$/,
  /^\s*\[end of output\]$/,
  // Python 3.11+ underlines the failing expression of each traceback frame.
  /^\s*[\^~]+$/,
];

/** The end of a failed build's log, as the summary shows it: its last `n` lines but pip's boilerplate. */
export function buildLogTail(output: string, n = 10): string[] {
  const lines = lastLines(output, Number.MAX_SAFE_INTEGER).filter((l) => !PIP_BOILERPLATE.some((re) => re.test(l)));
  return lines.slice(-n);
}

export interface NodePython {
  /** The --python given. */
  python: string;
  target: Target;
  /** `CPython 3.11.7 on manylinux_2_36_x86_64`, for messages. */
  description: string;
}

/**
 * Runs the stdlib one-liner with `python` and reads its target.
 * `platform` replaces the platform it finds (a musl Linux prints none).
 */
export async function probePython(python: string, env: NodeJS.ProcessEnv, platform?: string): Promise<NodePython> {
  const r = await runProcess(python, ['-c', TARGET_FILE_SCRIPT_STDLIB], { env, timeoutMs: 60_000 });
  if (r.spawnError !== null) throw new InvalidTarget(`--python ${python}: cannot run it (${r.spawnError})`);
  if (r.code !== 0) throw new InvalidTarget(`--python ${python}: the environment probe failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${lastLines(r.output, 3).join(' | ')}`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(r.output.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    throw new InvalidTarget(`--python ${python}: the environment probe printed no JSON: ${lastLines(r.output, 3).join(' | ')}`);
  }
  if (platform !== undefined) json.platform = platform;
  let target: Target;
  try {
    target = targetFromJson(json);
  } catch (err) {
    if (!(err instanceof InvalidTarget)) throw err;
    const hint = json.platform === null ? ' Give it with --platform (e.g. musllinux_1_2_x86_64).' : '';
    throw new InvalidTarget(`--python ${python}: ${err.message}${hint}`);
  }
  const env2 = target.env;
  const best = (target.tags[0] ?? '--').split('-')[2];
  return { python, target, description: `${env2.platform_python_implementation} ${env2.python_full_version} on ${best}` };
}

/** `python -m pip --version`, or a message saying how to get pip. */
export async function pipVersion(python: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runProcess(python, ['-m', 'pip', '--version'], { env, timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new InvalidTarget(`--python ${python} has no working pip (${lastLines(r.output, 1)[0] ?? r.spawnError ?? `exit ${r.code}`}): install it (${python} -m ensurepip) or give another --python`);
  }
  return r.output.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** `python -m auditwheel --version`, or a message saying how to get it. */
export async function auditwheelVersion(python: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runProcess(python, ['-m', 'auditwheel', '--version'], { env, timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new InvalidTarget(`--auditwheel: ${python} cannot run auditwheel (${lastLines(r.output, 1)[0] ?? r.spawnError ?? `exit ${r.code}`}): ${python} -m pip install auditwheel (it needs patchelf)`);
  }
  return lastLines(r.output, 1)[0] ?? 'auditwheel';
}

/**
 * The environment pip builds in: the caller's, without any PIP_* variable
 * it inherited and with no pip configuration file (PIP_CONFIG_FILE=/dev/null
 * skips them all), so only what pydepot sets counts: the index (build
 * requirements come through it too), no prompt, no version check, a cache
 * inside the work folder. The index URL rides in the environment, never on
 * the command line, where its credentials would show in the process list;
 * that is also why pip is not run with --isolated, which ignores it.
 */
export function pipEnvironment(base: NodeJS.ProcessEnv, opts: { indexUrl: string; cacheDir: string; tmpDir: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !k.startsWith('PIP_')) env[k] = v;
  const index = new URL(opts.indexUrl);
  Object.assign(env, {
    PIP_CONFIG_FILE: '/dev/null',
    PIP_INDEX_URL: opts.indexUrl,
    PIP_NO_INPUT: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_CACHE_DIR: opts.cacheDir,
    PIP_PROGRESS_BAR: 'off',
    // stdout and stderr are read as one log: unbuffered, their lines keep the order they were written in.
    PYTHONUNBUFFERED: '1',
    TMPDIR: opts.tmpDir,
  });
  // pip refuses a plain-http index on any host but localhost unless trusted; the index was given to us explicitly.
  if (index.protocol === 'http:') env.PIP_TRUSTED_HOST = index.port ? `${index.hostname}:${index.port}` : index.hostname;
  return env;
}

/** `python -m pip wheel --no-deps --wheel-dir DIR SDIST` with `env` from pipEnvironment. */
export function pipWheel(python: string, sdist: string, wheelDir: string, opts: RunOptions & { buildIsolation: boolean }): Promise<ProcessResult> {
  const args = ['-m', 'pip', 'wheel', '--no-deps', '--wheel-dir', wheelDir];
  if (!opts.buildIsolation) args.push('--no-build-isolation');
  args.push(sdist);
  return runProcess(python, args, opts);
}
