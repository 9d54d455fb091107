import { z } from 'zod'

/**
 * Every setting Supergate reads comes from one schema over `SUPERGATE_*` environment variables.
 * Unset service URLs select the embedded adapters (DESIGN.md §3). Messages never echo a value:
 * several of these variables hold secrets.
 */

export const PROVIDERS = ['openai', 'anthropic', 'gemini', 'cohere', 'mistral'] as const
export type ProviderName = (typeof PROVIDERS)[number]

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const optionalString = z.string().trim().min(1).optional()

function urlWithSchemes(schemes: readonly string[]) {
  const expected = schemes.map((s) => `${s}://`).join(' or ')
  return z
    .string()
    .trim()
    .refine((value) => {
      try {
        const url = new URL(value)
        return schemes.includes(url.protocol.slice(0, -1)) && url.hostname !== ''
      } catch {
        return false
      }
    }, `must be a ${expected} URL`)
    .optional()
}

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be between 1 and 65535')
    .max(65535, 'must be between 1 and 65535')
    .default(fallback)

const brokerList = z
  .string()
  .trim()
  .transform((value) => value.split(',').map((b) => b.trim()).filter((b) => b !== ''))
  .refine(
    (brokers) => brokers.length > 0 && brokers.every((b) => /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(b)),
    'must be a comma-separated list of host:port',
  )
  .optional()

/** A 32-byte key in base64, optionally versioned: `v1:<base64>,v2:<base64>` (the highest version encrypts). */
const masterKey = z
  .string()
  .trim()
  .transform((value, ctx) => {
    const parts = value.split(',').map((p) => p.trim())
    const keys: { version: number; key: Buffer }[] = []
    for (const [index, part] of parts.entries()) {
      const match = /^(?:v(\d+):)?([A-Za-z0-9+/]+={0,2})$/.exec(part)
      const key = match?.[2] === undefined ? undefined : Buffer.from(match[2], 'base64')
      if (match === null || key?.length !== 32 || (parts.length > 1 && match[1] === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be 32 bytes in base64, or a list of versioned keys like v1:<base64>,v2:<base64>',
        })
        return z.NEVER
      }
      keys.push({ version: match[1] === undefined ? index + 1 : Number(match[1]), key })
    }
    if (new Set(keys.map((k) => k.version)).size !== keys.length) {
      ctx.addIssue({ code: 'custom', message: 'has the same key version twice' })
      return z.NEVER
    }
    return keys.sort((a, b) => a.version - b.version)
  })
  .optional()

const milliseconds = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(1, 'must be at least 1')
    .max(3_600_000, 'must be at most 3600000')
    .default(fallback)

function jsonValue(text: string, ctx: z.RefinementCtx): unknown {
  try {
    return JSON.parse(text)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be valid JSON' })
    return z.NEVER
  }
}

const modelPattern = z.string().trim().min(1).max(200)

const apiKeyEntry = z
  .object({
    key: z.string().min(20, 'each key must be at least 20 characters'),
    name: z.string().min(1).max(100).optional(),
    allowedModels: z.array(modelPattern).optional(),
    fallbackModels: z.array(modelPattern).max(5).optional(),
  })
  .strict()
export type ApiKeyConfig = z.infer<typeof apiKeyEntry>

/**
 * Gateway API keys until the control plane issues them: a JSON list of
 * `{key, name?, allowedModels?, fallbackModels?}`, or a comma-separated list of bare keys (all models).
 */
const apiKeys = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const raw = text.startsWith('[') ? jsonValue(text, ctx) : text.split(',').map((key) => ({ key: key.trim() }))
    const parsed = z.array(apiKeyEntry).min(1).safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      ctx.addIssue({ code: 'custom', message: `entry ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` })
      return z.NEVER
    }
    return parsed.data
  })
  .optional()

/** `{"alias": "provider/model"}`: names users may send as `model`. */
const modelAliases = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const parsed = z.record(z.string().min(1), z.string().regex(/^[a-z]+\/.+$/, 'targets are provider/model')).safeParse(jsonValue(text, ctx))
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `must be a JSON object of alias to provider/model (${parsed.error.issues[0]?.message ?? ''})` })
      return z.NEVER
    }
    return parsed.data
  })
  .optional()

const providerShape = Object.fromEntries(
  PROVIDERS.flatMap((p) => [
    [`SUPERGATE_${p.toUpperCase()}_API_KEY`, optionalString],
    [`SUPERGATE_${p.toUpperCase()}_BASE_URL`, urlWithSchemes(['http', 'https'])],
  ]),
) as Record<string, typeof optionalString>

const envSchema = z.object({
  SUPERGATE_PORT: port(8080),
  SUPERGATE_HOST: z.string().trim().min(1).default('127.0.0.1'),
  SUPERGATE_ADMIN_TOKEN: z.string().trim().min(24, 'must be at least 24 characters').optional(),
  SUPERGATE_MASTER_KEY: masterKey,
  SUPERGATE_DATABASE_URL: urlWithSchemes(['postgres', 'postgresql']),
  SUPERGATE_REDIS_URL: urlWithSchemes(['redis', 'rediss']),
  SUPERGATE_KAFKA_BROKERS: brokerList,
  SUPERGATE_CLICKHOUSE_URL: urlWithSchemes(['http', 'https']),
  SUPERGATE_DATA_DIR: z.string().trim().min(1).default('.supergate'),
  SUPERGATE_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  SUPERGATE_SHUTDOWN_TIMEOUT_MS: z.coerce
    .number({ error: 'must be a whole number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(0, 'must not be negative')
    .max(600_000, 'must be at most 600000')
    .default(10_000),
  SUPERGATE_REQUEST_TIMEOUT_MS: milliseconds(60_000),
  SUPERGATE_BODY_LIMIT_BYTES: z.coerce
    .number({ error: 'must be a whole number of bytes' })
    .int('must be a whole number of bytes')
    .min(1024, 'must be at least 1024')
    .max(1024 * 1024 * 1024, 'must be at most 1 GiB')
    .default(32 * 1024 * 1024),
  SUPERGATE_API_KEYS: apiKeys,
  SUPERGATE_MODEL_ALIASES: modelAliases,
  SUPERGATE_UPSTREAM_CONNECT_TIMEOUT_MS: milliseconds(10_000),
  SUPERGATE_UPSTREAM_TIMEOUT_MS: milliseconds(120_000),
  SUPERGATE_UPSTREAM_IDLE_TIMEOUT_MS: milliseconds(60_000),
  SUPERGATE_UPSTREAM_RETRIES: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(0, 'must not be negative')
    .max(10, 'must be at most 10')
    .default(2),
  SUPERGATE_BREAKER_FAILURES: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .default(10),
  SUPERGATE_BREAKER_COOLDOWN_MS: milliseconds(15_000),
  SUPERGATE_OUTBOX_RELAY: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  SUPERGATE_PROJECTIONS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  SUPERGATE_METRICS_PORT: z.coerce.number({ error: 'must be a port number' }).int('must be a port number').min(1, 'must be a port number').max(65_535, 'must be a port number').optional(),
  SUPERGATE_METRICS_KEY_LABELS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('off'),
  SUPERGATE_LOG_PROMPTS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('off'),
  SUPERGATE_OTLP_ENDPOINT: urlWithSchemes(['http', 'https']),
  SUPERGATE_TRACE_SAMPLE_RATIO: z.coerce
    .number({ error: 'must be a number from 0 to 1' })
    .min(0, 'must be a number from 0 to 1')
    .max(1, 'must be a number from 0 to 1')
    .default(1),
  SUPERGATE_DEFAULT_MAX_OUTPUT_TOKENS: z.coerce
    .number({ error: 'must be a whole number of tokens' })
    .int('must be a whole number of tokens')
    .min(1, 'must be at least 1')
    .max(10_000_000, 'must be at most 10000000')
    .default(4096),
  ...providerShape,
})

/** Variables read by infra/ scripts and tests rather than the gateway; known, so never reported as typos. */
const OTHER_KNOWN = new Set(['SUPERGATE_CACHE_DIR', 'SUPERGATE_TEST_SERVICES'])

export interface ProviderConfig {
  apiKey?: string
  baseUrl?: string
}

export interface Config {
  port: number
  host: string
  adminToken?: string
  masterKeys?: { version: number; key: Buffer }[]
  databaseUrl?: string
  redisUrl?: string
  kafkaBrokers?: string[]
  clickhouseUrl?: string
  /** `:memory:` keeps embedded state in memory only. */
  dataDir: string
  logLevel: (typeof LOG_LEVELS)[number]
  shutdownTimeoutMs: number
  /** How long a client may take to send its whole request, headers and body (then 408). Not the answer's time. */
  requestTimeoutMs: number
  bodyLimitBytes: number
  apiKeys: ApiKeyConfig[]
  modelAliases: Record<string, string>
  upstream: { connectTimeoutMs: number; timeoutMs: number; idleTimeoutMs: number; retries: number }
  breaker: { failures: number; cooldownMs: number }
  /** Whether this process relays control events to the event log; exactly one process of a deployment should. */
  outboxRelay: boolean
  /** Whether this process runs the spend projections, the alert relay and webhooks (some process of a deployment must). */
  projections: boolean
  /** Whether /metrics labels requests and spend by API key id too (many more series: off by default). */
  metricsKeyLabels: boolean
  /** A port of its own for /metrics, which the main port then does not serve; the main port when unset. */
  metricsPort: number | undefined
  /** Whether each model call's request body (its prompt) is logged; off by default, and prompt fields are then censored. */
  logPrompts: boolean
  /** Where OpenTelemetry traces go over OTLP/HTTP, and the share of new traces kept; none by default. */
  tracing: { endpoint: string; sampleRatio: number } | undefined
  /** The output cap assumed for a call that sets no max_tokens, for token limits and budget reservations. */
  defaultMaxOutputTokens: number
  providers: Record<ProviderName, ProviderConfig>
  /** `SUPERGATE_*` names that no setting uses: most likely typos, reported at start-up. */
  unknownVariables: string[]
}

export class ConfigError extends Error {
  readonly problems: readonly { variable: string; message: string }[]

  constructor(problems: { variable: string; message: string }[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'),
    )
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Empty strings count as unset, as shells and compose files often export `VAR=`. */
function presentSupergateVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('SUPERGATE_') && value !== undefined && value.trim() !== '') out[name] = value
  }
  return out
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const vars = presentSupergateVariables(env)
  const parsed = envSchema.safeParse(vars)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? '(environment)'),
      message: issue.message,
    }))
    throw new ConfigError(problems)
  }
  const e = parsed.data
  const providers = Object.fromEntries(
    PROVIDERS.map((p) => {
      const prefix = `SUPERGATE_${p.toUpperCase()}`
      const provider: ProviderConfig = {}
      const apiKey = e[`${prefix}_API_KEY` as keyof typeof e] as string | undefined
      const baseUrl = e[`${prefix}_BASE_URL` as keyof typeof e] as string | undefined
      if (apiKey !== undefined) provider.apiKey = apiKey
      if (baseUrl !== undefined) provider.baseUrl = baseUrl
      return [p, provider]
    }),
  ) as Record<ProviderName, ProviderConfig>
  const known = new Set(Object.keys(envSchema.shape))
  const config: Config = {
    port: e.SUPERGATE_PORT,
    host: e.SUPERGATE_HOST,
    dataDir: e.SUPERGATE_DATA_DIR,
    logLevel: e.SUPERGATE_LOG_LEVEL,
    shutdownTimeoutMs: e.SUPERGATE_SHUTDOWN_TIMEOUT_MS,
    requestTimeoutMs: e.SUPERGATE_REQUEST_TIMEOUT_MS,
    bodyLimitBytes: e.SUPERGATE_BODY_LIMIT_BYTES,
    apiKeys: e.SUPERGATE_API_KEYS ?? [],
    modelAliases: e.SUPERGATE_MODEL_ALIASES ?? {},
    upstream: {
      connectTimeoutMs: e.SUPERGATE_UPSTREAM_CONNECT_TIMEOUT_MS,
      timeoutMs: e.SUPERGATE_UPSTREAM_TIMEOUT_MS,
      idleTimeoutMs: e.SUPERGATE_UPSTREAM_IDLE_TIMEOUT_MS,
      retries: e.SUPERGATE_UPSTREAM_RETRIES,
    },
    breaker: { failures: e.SUPERGATE_BREAKER_FAILURES, cooldownMs: e.SUPERGATE_BREAKER_COOLDOWN_MS },
    outboxRelay: e.SUPERGATE_OUTBOX_RELAY === 'on',
    projections: e.SUPERGATE_PROJECTIONS === 'on',
    metricsKeyLabels: e.SUPERGATE_METRICS_KEY_LABELS === 'on',
    metricsPort: e.SUPERGATE_METRICS_PORT,
    logPrompts: e.SUPERGATE_LOG_PROMPTS === 'on',
    tracing: e.SUPERGATE_OTLP_ENDPOINT === undefined ? undefined : { endpoint: e.SUPERGATE_OTLP_ENDPOINT, sampleRatio: e.SUPERGATE_TRACE_SAMPLE_RATIO },
    defaultMaxOutputTokens: e.SUPERGATE_DEFAULT_MAX_OUTPUT_TOKENS,
    providers,
    unknownVariables: Object.keys(vars).filter((name) => !known.has(name) && !OTHER_KNOWN.has(name)),
  }
  if (e.SUPERGATE_ADMIN_TOKEN !== undefined) config.adminToken = e.SUPERGATE_ADMIN_TOKEN
  if (e.SUPERGATE_MASTER_KEY !== undefined) config.masterKeys = e.SUPERGATE_MASTER_KEY
  if (e.SUPERGATE_DATABASE_URL !== undefined) config.databaseUrl = e.SUPERGATE_DATABASE_URL
  if (e.SUPERGATE_REDIS_URL !== undefined) config.redisUrl = e.SUPERGATE_REDIS_URL
  if (e.SUPERGATE_KAFKA_BROKERS !== undefined) config.kafkaBrokers = e.SUPERGATE_KAFKA_BROKERS
  if (e.SUPERGATE_CLICKHOUSE_URL !== undefined) config.clickhouseUrl = e.SUPERGATE_CLICKHOUSE_URL
  return config
}

/** The configuration table of the README, generated from the schema's names so the two cannot drift. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape)
