import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
