/**
 * Test-only fault injector for the full-disk tests, preloaded into a pydepot
 * child with `--import` (see test/crash/disk-full.test.ts): a filesystem that
 * fills up, without mounting one (which needs privileges CI may not have).
 *
 * While the file named by PYDEPOT_TEST_DISK_FULL exists, writes to files under
 * PYDEPOT_TEST_DISK_ROOT get, all together, as many bytes as that file says
 * (empty: none), then fail as write(2) does on a full filesystem: a short
 * write, then ENOSPC. Deleting the file is "space returns".
 *
 * It patches fs.open, fs.write, fs.writev and fs.close on the `fs` module
 * object, the calls a WriteStream makes, so pydepot's code runs unchanged.
 * SQLite writes through its own C code and is not affected; nor are reads.
 */
import fs from 'node:fs';
import { resolve, sep } from 'node:path';

const FLAG = process.env.PYDEPOT_TEST_DISK_FULL;
const ROOT = process.env.PYDEPOT_TEST_DISK_ROOT;
if (!FLAG || !ROOT) throw new Error('full-disk-preload: set PYDEPOT_TEST_DISK_FULL and PYDEPOT_TEST_DISK_ROOT');
const root = resolve(ROOT) + sep;

/** Descriptors of files under ROOT. */
const tracked = new Set<number>();
/** Bytes written since the flag file appeared. */
let used = 0;

/** Bytes still allowed, or null while there is space. */
function remaining(): number | null {
  let budget: string;
  try {
    budget = fs.readFileSync(FLAG!, 'utf8').trim();
  } catch {
    used = 0;
    return null;
  }
  return Math.max(0, (budget === '' ? 0 : Number(budget)) - used);
}

function enospc(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), { errno: -28, code: 'ENOSPC', syscall });
}

type Callback = (...args: unknown[]) => void;
const lastIsCallback = (args: unknown[]): Callback => args.at(-1) as Callback;

const { open, write, writev, close } = fs;

(fs as { open: unknown }).open = function (path: fs.PathLike, ...rest: unknown[]): void {
  const cb = lastIsCallback(rest);
  const under = typeof path === 'string' && resolve(path).startsWith(root);
  (open as (...a: unknown[]) => void).call(fs, path, ...rest.slice(0, -1), (err: Error | null, fd: number) => {
    if (!err && under) tracked.add(fd);
    cb(err, fd);
  });
};

(fs as { close: unknown }).close = function (fd: number, ...rest: unknown[]): void {
  tracked.delete(fd);
  (close as (...a: unknown[]) => void).call(fs, fd, ...rest);
};

// WriteStream calls write(fd, buffer, offset, length, position, cb).
(fs as { write: unknown }).write = function (fd: number, ...rest: unknown[]): void {
  const left = tracked.has(fd) ? remaining() : null;
  const cb = lastIsCallback(rest);
  const [buffer, offset, length, position] = rest as [Buffer, number, number, number | null];
  if (left === null || !Buffer.isBuffer(buffer) || typeof length !== 'number') {
    (write as (...a: unknown[]) => void).call(fs, fd, ...rest);
    return;
  }
  if (left === 0) {
    process.nextTick(cb, enospc('write'));
    return;
  }
  const n = Math.min(length, left);
  (write as (...a: unknown[]) => void).call(fs, fd, buffer, offset, n, position, (err: Error | null, written: number, buf: Buffer) => {
    if (!err) used += written;
    cb(err, written, buf);
  });
};

(fs as { writev: unknown }).writev = function (fd: number, buffers: Buffer[], ...rest: unknown[]): void {
  const left = tracked.has(fd) ? remaining() : null;
  const total = buffers.reduce((sum, b) => sum + b.length, 0);
  if (left !== null && total > left) {
    process.nextTick(lastIsCallback(rest), enospc('write'));
    return;
  }
  (writev as (...a: unknown[]) => void).call(fs, fd, buffers, ...rest.slice(0, -1), (err: Error | null, written: number, bufs: Buffer[]) => {
    if (!err && left !== null) used += written;
    lastIsCallback(rest)(err, written, bufs);
  });
};
