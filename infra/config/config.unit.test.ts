import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.ts'

const key32 = Buffer.alloc(32, 7).toString('base64')

function problemsOf(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return Object.fromEntries(error.problems.map((p) => [p.variable, p.message]))
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('selects the embedded defaults when nothing is set', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: '.supergate', logLevel: 'info' })
    expect(config.databaseUrl).toBeUndefined()
    expect(config.redisUrl).toBeUndefined()
    expect(config.kafkaBrokers).toBeUndefined()
    expect(config.clickhouseUrl).toBeUndefined()
  })

  it('reads service URLs, brokers and provider settings', () => {
    const config = loadConfig({
      SUPERGATE_PORT: '9090',
      SUPERGATE_DATABASE_URL: 'postgres://u:p@127.0.0.1:54329/db',
      SUPERGATE_REDIS_URL: 'redis://127.0.0.1:63799',
      SUPERGATE_KAFKA_BROKERS: '127.0.0.1:19092, [::1]:19093',
      SUPERGATE_CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      SUPERGATE_OPENAI_API_KEY: 'sk-test',
      SUPERGATE_MISTRAL_BASE_URL: 'http://127.0.0.1:7000/v1',
    })
    expect(config.port).toBe(9090)
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:19092', '[::1]:19093'])
    expect(config.providers.openai).toEqual({ apiKey: 'sk-test' })
    expect(config.providers.mistral).toEqual({ baseUrl: 'http://127.0.0.1:7000/v1' })
    expect(config.providers.gemini).toEqual({})
  })

  it('runs projections and assumes 4,096 output tokens unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ projections: true, defaultMaxOutputTokens: 4096 })
    expect(loadConfig({ SUPERGATE_PROJECTIONS: 'off', SUPERGATE_DEFAULT_MAX_OUTPUT_TOKENS: '512' })).toMatchObject({ projections: false, defaultMaxOutputTokens: 512 })
    expect(problemsOf({ SUPERGATE_PROJECTIONS: 'no', SUPERGATE_DEFAULT_MAX_OUTPUT_TOKENS: '0' })).toEqual({
      SUPERGATE_PROJECTIONS: 'must be on or off',
      SUPERGATE_DEFAULT_MAX_OUTPUT_TOKENS: 'must be at least 1',
    })
  })

  it('reads the observability settings and the client request timeout, refusing bad values', () => {
    expect(loadConfig({})).toMatchObject({ requestTimeoutMs: 60_000, metricsPort: undefined, metricsKeyLabels: false, logPrompts: false, tracing: undefined })
    expect(
      loadConfig({ SUPERGATE_REQUEST_TIMEOUT_MS: '5000', SUPERGATE_METRICS_PORT: '9464', SUPERGATE_METRICS_KEY_LABELS: 'on', SUPERGATE_LOG_PROMPTS: 'on', SUPERGATE_OTLP_ENDPOINT: 'http://collector:4318', SUPERGATE_TRACE_SAMPLE_RATIO: '0.25' }),
    ).toMatchObject({ requestTimeoutMs: 5_000, metricsPort: 9464, metricsKeyLabels: true, logPrompts: true, tracing: { endpoint: 'http://collector:4318', sampleRatio: 0.25 } })
    expect(problemsOf({ SUPERGATE_REQUEST_TIMEOUT_MS: '0', SUPERGATE_METRICS_PORT: '70000', SUPERGATE_OTLP_ENDPOINT: 'grpc://collector:4317', SUPERGATE_TRACE_SAMPLE_RATIO: '2' })).toMatchObject({
      SUPERGATE_REQUEST_TIMEOUT_MS: 'must be at least 1',
      SUPERGATE_METRICS_PORT: 'must be a port number',
      SUPERGATE_TRACE_SAMPLE_RATIO: 'must be a number from 0 to 1',
    })
    expect(Object.keys(problemsOf({ SUPERGATE_OTLP_ENDPOINT: 'grpc://collector:4317' }))).toEqual(['SUPERGATE_OTLP_ENDPOINT'])
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ SUPERGATE_DATABASE_URL: '', SUPERGATE_PORT: ' ' }).port).toBe(8080)
  })

  it('lists every bad variable in one error, without echoing secret values', () => {
    const secret = 'super-secret-value-that-must-not-leak'
    const env = {
      SUPERGATE_PORT: '99999',
      SUPERGATE_DATABASE_URL: `mysql://root:${secret}@db/x`,
      SUPERGATE_REDIS_URL: 'not a url',
      SUPERGATE_KAFKA_BROKERS: 'localhost',
      SUPERGATE_MASTER_KEY: secret,
      SUPERGATE_LOG_LEVEL: 'loud',
      SUPERGATE_OPENAI_BASE_URL: 'ftp://x',
    }
    const problems = problemsOf(env)
    expect(Object.keys(problems).sort()).toEqual([
      'SUPERGATE_DATABASE_URL',
      'SUPERGATE_KAFKA_BROKERS',
      'SUPERGATE_LOG_LEVEL',
      'SUPERGATE_MASTER_KEY',
      'SUPERGATE_OPENAI_BASE_URL',
      'SUPERGATE_PORT',
      'SUPERGATE_REDIS_URL',
    ])
    expect(problems.SUPERGATE_DATABASE_URL).toBe('must be a postgres:// or postgresql:// URL')
    let message = ''
    try {
      loadConfig(env)
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toMatch(/^Invalid configuration \(7 problems\)/)
    expect(message).not.toContain(secret)
  })

  it('accepts plain and versioned master keys and rejects short or duplicate ones', () => {
    expect(loadConfig({ SUPERGATE_MASTER_KEY: key32 }).masterKeys).toEqual([{ version: 1, key: Buffer.alloc(32, 7) }])
    const versioned = loadConfig({ SUPERGATE_MASTER_KEY: `v3:${key32},v2:${Buffer.alloc(32, 1).toString('base64')}` })
    expect(versioned.masterKeys?.map((k) => k.version)).toEqual([2, 3])
    expect(problemsOf({ SUPERGATE_MASTER_KEY: Buffer.alloc(16).toString('base64') })).toHaveProperty(
      'SUPERGATE_MASTER_KEY',
    )
    expect(problemsOf({ SUPERGATE_MASTER_KEY: `v1:${key32},v1:${key32}` }).SUPERGATE_MASTER_KEY).toBe(
      'has the same key version twice',
    )
  })

  it('reports unknown SUPERGATE_ names as likely typos instead of ignoring them silently', () => {
    expect(loadConfig({ SUPERGATE_PROT: '1', SUPERGATE_CACHE_DIR: '/x' }).unknownVariables).toEqual(['SUPERGATE_PROT'])
  })

  it('documents every variable in the README configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const missing = CONFIG_VARIABLES.filter((name) => !readme.includes(`\`${name}\``))
    expect(missing).toEqual([])
  })
})
