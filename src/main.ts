#!/usr/bin/env node
/** Process entry: the only place that decides the exit code (with failure(), which tests share). */
import { buildCli, failure, processIo } from './cli.ts';

const io = processIo();
buildCli(io)
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const { code, message } = failure(err);
    if (message !== null) io.stderr.write(`${message}\n`);
    process.exit(code);
  });
