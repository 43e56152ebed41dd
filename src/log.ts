import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.ts';

export type { Logger };

/** JSON lines on stdout. Credentials never reach a log line: headers are not logged at all. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'pydepot' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}
