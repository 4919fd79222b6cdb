/**
 * Structured JSON logs with pino; pretty output in development on a terminal.
 *
 * Secrets never reach the logs: code logs no header, key or configuration value, and the
 * paths below are redacted as a second line of defence should an object carrying one be
 * logged by mistake (request headers, API key secrets, the admin token, signing keys).
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-project-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["x-project-key"]',
  'secret',
  '*.secret',
  'apiKey',
  'adminToken',
  '*.adminToken',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
];

export interface LoggerOptions {
  level: string;
  /** Human-readable lines instead of JSON (development on a terminal). */
  pretty?: boolean;
  /** Where to write; stdout by default. The CLI logs to stderr (fd 2) so stdout stays data. */
  destination?: pino.DestinationStream | 1 | 2;
}

export function createLogger(opts: LoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'llmring-server' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination = opts.destination ?? 1;
  if (typeof destination !== 'number') return pino(options, destination);
  if (opts.pretty) {
    // In-process and synchronous: no worker thread, nothing lost when a CLI command exits.
    return pino(
      options,
      pretty({ destination, sync: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,service' }),
    );
  }
  return pino(options, pino.destination({ fd: destination, sync: true }));
}
