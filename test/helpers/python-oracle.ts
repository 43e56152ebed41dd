/**
 * Python as an oracle: run a script with one of this machine's Pythons and
 * read its JSON answer. Both Pythons carry a pip (23.2 under pyenv, Debian's
 * 23.0) with packaging 21.3 vendored, so their answers are what pip does.
 *
 * No skipping: a missing or broken Python throws, and the test fails with
 * the command's output. An oracle that quietly goes missing would let any
 * tag list pass.
 */
import { describe, run, type RunResult } from './clients.ts';

/** The pyenv python3 first on PATH (pip 23.2) and Debian's (pip 23.0). */
export const PYTHONS = ['python3', '/usr/bin/python3'] as const;

/** `python -c script args…`, in the clean environment of clients.ts; throws unless it exits 0. */
export async function python(executable: string, script: string, args: string[] = []): Promise<RunResult> {
  const r = await run(executable, ['-c', script, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    throw new Error(`${executable} failed${r.code === 127 ? ' to start (is it installed? apt-get install -y python3 python3-pip)' : ''}: ${describe(r)}`);
  }
  return r;
}

/** Runs the script and parses the last line of its stdout as JSON. */
export async function pythonJson<T>(executable: string, script: string, args: string[] = []): Promise<T> {
  const r = await python(executable, script, args);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`${executable} printed no JSON: ${describe(r)}`);
  }
}

/** A shell command line (a README one-liner), run by /bin/sh; throws unless it exits 0. */
export async function shell(command: string): Promise<RunResult> {
  const r = await run('/bin/sh', ['-c', command], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`sh -c ${command} failed: ${describe(r)}`);
  return r;
}
