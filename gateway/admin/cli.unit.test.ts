import { describe, expect, it } from 'vitest'
import { ADMIN_ROUTES } from './routes/index.ts'
import { COMMANDS, CliUsageError, parseCommand } from './cli-commands.ts'
import { runCli } from './cli.ts'

describe('the admin CLI’s argument parsing', () => {
  it('maps flags to the path, the query and a nested body', () => {
    expect(
      parseCommand(['keys', 'issue', '--tenant', 'ten_1', '--name', 'ci', '--role=developer', '--allowed-models', 'openai/*, anthropic/*', '--requests-per-minute', '60', '--reason', 'CI needs a key']),
    ).toEqual({
      method: 'POST',
      path: '/tenants/ten_1/keys',
      body: { name: 'ci', role: 'developer', allowedModels: ['openai/*', 'anthropic/*'], limits: { requestsPerMinute: 60 } },
      reason: 'CI needs a key',
    })
    expect(parseCommand(['budgets', 'delete', '--tenant', 'ten_1', '--scope', 'project:prj_9', '--period', 'day'])).toEqual({
      method: 'DELETE',
      path: '/tenants/ten_1/budgets/project%3Aprj_9?period=day',
      body: undefined,
      reason: undefined,
    })
  })

  it('URL-encodes a model id with a slash', () => {
    expect(parseCommand(['price-overrides', 'delete', '--tenant', 't', '--model', 'openai/gpt-4o']).path).toBe('/tenants/t/price-overrides/openai%2Fgpt-4o')
  })

  it('sends {} for a write with no body flags, and the format for audit commands', () => {
    expect(parseCommand(['keys', 'rotate', '--tenant', 't', '--key', 'key_1']).body).toEqual({})
    expect(parseCommand(['credentials', 'rewrap'])).toMatchObject({ method: 'POST', path: '/credentials/rewrap', body: {} })
    expect(parseCommand(['audit', 'export', '--tenant', 't', '--type', 'apikey.issued']).path).toBe('/tenants/t/audit?format=jsonl&type=apikey.issued')
    expect(parseCommand(['audit', 'list', '--tenant', 't', '--limit', '10']).path).toBe('/tenants/t/audit?format=json&limit=10')
  })

  it('uses --reason as the grant reason of credits too', () => {
    expect(parseCommand(['credits', 'grant', '--tenant', 't', '--amount-micro-usd', '5000000', '--reason', 'Q3 prepaid'])).toMatchObject({
      body: { amountMicroUsd: 5_000_000, reason: 'Q3 prepaid' },
      reason: 'Q3 prepaid',
    })
  })

  it('reads a provider key from a named environment variable', () => {
    const request = parseCommand(['credentials', 'set', '--tenant', 't', '--provider', 'openai', '--api-key-env', 'OPENAI_KEY'], { OPENAI_KEY: 'sk-from-env' })
    expect(request.body).toEqual({ apiKey: 'sk-from-env' })
    expect(() => parseCommand(['credentials', 'set', '--tenant', 't', '--provider', 'openai', '--api-key-env', 'MISSING'], {})).toThrow(/MISSING, which is not set/)
    expect(() => parseCommand(['credentials', 'set', '--tenant', 't', '--provider', 'openai', '--api-key', 'a', '--api-key-env', 'X'], { X: 'b' })).toThrow(/not both/)
  })

  it.each([
    [['nothing', 'here'], /Unknown command 'nothing here'/],
    [['keys', 'issue', '--tenant', 't', '--name', 'ci'], /keys issue needs --role/],
    [['keys', 'list', '--tenant', 't', '--colour', 'red'], /has no flag --colour/],
    [['keys', 'list', '--tenant'], /--tenant needs a value/],
    [['keys', 'list', '--tenant', 't', '--tenant', 'u'], /given twice/],
    [['keys', 'list', 'ten_1'], /Unexpected argument 'ten_1'/],
    [['credits', 'grant', '--tenant', 't', '--amount-micro-usd', '1.5'], /must be a whole number/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(CliUsageError)
    expect(() => parseCommand(argv)).toThrow(message)
  })

  it('has a command for every admin endpoint', () => {
    const endpoints = new Set(ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`))
    const covered = new Set(COMMANDS.map((c) => `${c.method} ${c.path}`))
    expect([...endpoints].filter((e) => !covered.has(e))).toEqual([])
  })
})

describe('running the admin CLI', () => {
  function io(env: Record<string, string>, answer: Response) {
    const out: string[] = []
    const err: string[] = []
    const calls: { url: string; init: RequestInit }[] = []
    return {
      out,
      err,
      calls,
      io: {
        env,
        fetch: ((url: string, init: RequestInit) => {
          calls.push({ url, init })
          return Promise.resolve(answer)
        }) as typeof fetch,
        stdout: (text: string) => out.push(text),
        stderr: (text: string) => err.push(text),
      },
    }
  }

  it('calls the API with the token and reason, and prints the JSON answer', async () => {
    const run = io(
      { SUPERGATE_ADMIN_URL: 'http://gateway.internal:9000/', SUPERGATE_ADMIN_TOKEN: 'sg-admin-t' },
      new Response(JSON.stringify({ id: 'prj_1', name: 'search' }), { status: 201, headers: { 'content-type': 'application/json' } }),
    )
    expect(await runCli(['projects', 'create', '--tenant', 'ten_1', '--name', 'search', '--reason', 'OPS-1'], run.io)).toBe(0)
    expect(run.calls[0]!.url).toBe('http://gateway.internal:9000/admin/v1/tenants/ten_1/projects')
    expect(run.calls[0]!.init).toMatchObject({ method: 'POST', body: '{"name":"search"}', headers: { authorization: 'Bearer sg-admin-t', 'x-supergate-reason': 'OPS-1' } })
    expect(JSON.parse(run.out.join(''))).toEqual({ id: 'prj_1', name: 'search' })
  })

  it('falls back to SUPERGATE_API_KEY and the default URL; prints an error body to stderr with exit code 1', async () => {
    const error = { error: { message: 'No such tenant', type: 'not_found_error', param: null, code: 'not_found' } }
    const run = io({ SUPERGATE_API_KEY: 'sg_key' }, new Response(JSON.stringify(error), { status: 404, headers: { 'content-type': 'application/json' } }))
    expect(await runCli(['keys', 'list', '--tenant', 'ten_x'], run.io)).toBe(1)
    expect(run.calls[0]!.url).toBe('http://127.0.0.1:8080/admin/v1/tenants/ten_x/keys')
    expect(run.calls[0]!.init.headers).toMatchObject({ authorization: 'Bearer sg_key' })
    expect(JSON.parse(run.err.join(''))).toEqual(error)
    expect(run.out).toEqual([])
  })

  it('exits 2 on a usage mistake or without a token, before calling anything', async () => {
    const noToken = io({}, new Response(null, { status: 204 }))
    expect(await runCli(['keys', 'list', '--tenant', 't'], noToken.io)).toBe(2)
    expect(noToken.err.join('')).toMatch(/SUPERGATE_ADMIN_TOKEN/)
    const typo = io({ SUPERGATE_ADMIN_TOKEN: 't' }, new Response(null, { status: 204 }))
    expect(await runCli(['keys', 'lst'], typo.io)).toBe(2)
    expect(noToken.calls.length + typo.calls.length).toBe(0)
  })

  it('prints {"ok":true} for an answer without a body', async () => {
    const run = io({ SUPERGATE_ADMIN_TOKEN: 't' }, new Response(null, { status: 204 }))
    expect(await runCli(['keys', 'revoke', '--tenant', 't', '--key', 'key_1'], run.io)).toBe(0)
    expect(run.out.join('')).toBe('{"ok":true}\n')
  })
})
