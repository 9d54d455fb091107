import { describe, expect, it } from 'vitest'
import { secretsIn } from './log-secrets.ts'

const env = { SUPERGATE_ADMIN_TOKEN: 'sg-admin-0123456789abcdef01234567', SUPERGATE_MASTER_KEY: 'v1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=', SUPERGATE_OPENAI_API_KEY: 'sk-upstream-secret', SUPERGATE_PORT: '8080' }

describe('the log scan for secrets', () => {
  it('finds the secrets a process was given, and the shapes of secrets it handed out, naming only their kind', () => {
    expect(secretsIn('{"msg":"ready","port":8080}', env)).toEqual([])
    expect(secretsIn('token sg-admin-0123456789abcdef01234567', env)).toEqual(['the value of SUPERGATE_ADMIN_TOKEN'])
    expect(secretsIn('{"key":"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}', env)).toEqual(['the value of SUPERGATE_MASTER_KEY'])
    expect(secretsIn('upstream said sk-upstream-secret', env)).toEqual(['the value of SUPERGATE_OPENAI_API_KEY'])
    expect(secretsIn(`issued sg_ABCDEFGHIJKL_${'x'.repeat(43)}`, {})).toEqual(['an API key minted by the gateway'])
    expect(secretsIn('{"authorization":"Bearer abcdefghij"}', {})).toEqual(['a bearer token'])
    expect(secretsIn('{"apiKey":"sk-byok-123"}', {})).toEqual(['an apiKey field'])
    expect(secretsIn('{"apiKey":"[redacted]"}', {})).toEqual([])
  })

  it('finds a URL setting printed with its password', () => {
    const urls = { SUPERGATE_DATABASE_URL: 'postgres://supergate:pg-pass-1234@db:5432/supergate', SUPERGATE_OTLP_ENDPOINT: 'https://user:collector-token@otel:4318' }
    expect(secretsIn('connected to postgres://supergate:[redacted]@db:5432/supergate', urls)).toEqual([])
    expect(secretsIn('connect failed: postgres://supergate:pg-pass-1234@db:5432/supergate', urls)).toEqual(['the password in SUPERGATE_DATABASE_URL'])
    expect(secretsIn('{"otlpEndpoint":"https://user:collector-token@otel:4318"}', urls)).toEqual(['the password in SUPERGATE_OTLP_ENDPOINT'])
  })

  it('reads SUPERGATE_API_KEYS as a list or as JSON entries', () => {
    expect(secretsIn('x sg-key-one-000000 y', { SUPERGATE_API_KEYS: 'sg-key-one-000000,sg-key-two-000000' })).toEqual(['the value of SUPERGATE_API_KEYS'])
    expect(secretsIn('x sg-key-json-00000 y', { SUPERGATE_API_KEYS: '[{"key":"sg-key-json-00000","tenant":"t"}]' })).toEqual(['the value of SUPERGATE_API_KEYS'])
  })
})
