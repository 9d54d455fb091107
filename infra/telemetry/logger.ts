import { pino } from 'pino'
import type { Logger, LoggerOptions } from 'pino'

/**
 * Paths that may hold a secret anywhere they are logged. Redaction is the second wall: code never passes
 * a secret to the logger on purpose.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers["x-goog-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.apiKey',
  '*.password',
  '*.adminToken',
  '*.masterKeys',
]

export function createLogger(options: { level: LoggerOptions['level']; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'supergate' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? process.stdout,
  )
}
