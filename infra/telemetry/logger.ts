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
  'req.headers["proxy-authorization"]',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.adminToken',
  '*.masterKeys',
  '*.masterKey',
  '*.secret',
  '*.authorization',
]

/**
 * Where a prompt or an answer can be, censored unless SUPERGATE_LOG_PROMPTS=on asks for them (they are then
 * logged under `prompted` only): request bodies and the fields that carry text in each provider's format.
 */
export const PROMPT_PATHS = ['body', '*.body', '*.messages', '*.prompt', '*.input', '*.system', '*.contents', '*.content', '*.choices']

export function createLogger(options: { level: LoggerOptions['level']; destination?: NodeJS.WritableStream; logPrompts?: boolean }): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'supergate' },
      redact: { paths: [...REDACTED_PATHS, ...(options.logPrompts === true ? [] : PROMPT_PATHS)], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? process.stdout,
  )
}
