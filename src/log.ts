import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.ts';

export type { Logger };

/**
 * JSON lines on stdout for the server; `to: 'stderr'` for commands whose
 * stdout is their output (`confusion report --json` must print one JSON
 * document). Credentials never reach a log line: headers are not logged at all.
 */
export function createLogger(level: LogLevel, to: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino({
    level,
    base: { service: 'pydepot' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'authorization', '*.authorization'], censor: '[redacted]' },
  }, pino.destination(to === 'stderr' ? 2 : 1));
}
