/**
 * The benchmark's servers, each in its own child process (so its RSS and CPU
 * are its own and it does not share the load client's event loop). Every
 * child prints {"url": ...} once listening; later stdout lines are events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Child {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** The child's stdout after its {"url"} line, one line at a time. */
  lines: Interface;
}

const children = new Set<ChildProcess>();

/** Starts `node --import tsx <script>` and waits (up to `startMs`) for its {"url"} line. */
export async function startChild(script: string, args: string[], startMs = 30_000): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    // stdin stays open: a child whose stdin ends (we died) shuts itself down.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${startMs / 1000} s`)), startMs);
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { proc, pid: proc.pid!, url, lines };
}

export function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export function stopAllChildren(): Promise<void> {
  return Promise.all([...children].map(stopChild)).then(() => undefined);
}
