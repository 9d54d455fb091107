/**
 * The admin CLI's commands, as data: each names the endpoint it calls and where each flag goes (path,
 * query or body). Parsing is pure, so it is tested without a server.
 */

type FlagType = 'string' | 'integer' | 'number' | 'list'

interface Flag {
  flag: string
  to: 'path' | 'query' | 'body'
  /** The path parameter, query parameter or body field; `a.b` nests in the body. */
  field: string
  type?: FlagType
  required?: boolean
  /** Also accepted as `--<flag>-env NAME`: the value is read from that environment variable, out of shell history. */
  fromEnv?: boolean
}

export interface CliCommand {
  name: string
  summary: string
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Below /admin/v1, with `{param}` filled from path flags. */
  path: string
  flags: readonly Flag[]
  /** Query parameters the command always sends. */
  fixedQuery?: Record<string, string>
}

export interface CliRequest {
  method: CliCommand['method']
  /** Path and query below /admin/v1, URL-encoded. */
  path: string
  body: Record<string, unknown> | undefined
  reason: string | undefined
}

export class CliUsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CliUsageError'
  }
}

const tenant: Flag = { flag: 'tenant', to: 'path', field: 'tenantId', required: true }
const s = (flag: string, to: Flag['to'], field: string, required = false, type: FlagType = 'string'): Flag => ({ flag, to, field, required, type })

export const COMMANDS: readonly CliCommand[] = [
  { name: 'tenants create', summary: 'Create a tenant', method: 'POST', path: '/tenants', flags: [s('name', 'body', 'name', true), s('key-mode', 'body', 'keyMode')] },
  { name: 'tenants get', summary: 'Show a tenant', method: 'GET', path: '/tenants/{tenantId}', flags: [tenant] },
  { name: 'tenants update', summary: 'Rename a tenant or change its key mode', method: 'PATCH', path: '/tenants/{tenantId}', flags: [tenant, s('name', 'body', 'name'), s('key-mode', 'body', 'keyMode')] },
  { name: 'projects create', summary: 'Create a project', method: 'POST', path: '/tenants/{tenantId}/projects', flags: [tenant, s('name', 'body', 'name', true)] },
  { name: 'projects list', summary: 'List projects', method: 'GET', path: '/tenants/{tenantId}/projects', flags: [tenant] },
  { name: 'projects archive', summary: 'Archive a project', method: 'DELETE', path: '/tenants/{tenantId}/projects/{projectId}', flags: [tenant, s('project', 'path', 'projectId', true)] },
  { name: 'members add', summary: 'Add a member', method: 'POST', path: '/tenants/{tenantId}/members', flags: [tenant, s('email', 'body', 'email', true), s('role', 'body', 'role', true)] },
  { name: 'members list', summary: 'List members', method: 'GET', path: '/tenants/{tenantId}/members', flags: [tenant] },
  {
    name: 'members set-role',
    summary: "Change a member's role",
    method: 'PATCH',
    path: '/tenants/{tenantId}/members/{memberId}',
    flags: [tenant, s('member', 'path', 'memberId', true), s('role', 'body', 'role', true)],
  },
  { name: 'members remove', summary: 'Remove a member', method: 'DELETE', path: '/tenants/{tenantId}/members/{memberId}', flags: [tenant, s('member', 'path', 'memberId', true)] },
  {
    name: 'keys issue',
    summary: 'Issue an API key (its secret is printed once)',
    method: 'POST',
    path: '/tenants/{tenantId}/keys',
    flags: [
      tenant,
      s('name', 'body', 'name', true),
      s('role', 'body', 'role', true),
      s('project', 'body', 'projectId'),
      s('allowed-models', 'body', 'allowedModels', false, 'list'),
      s('fallback-models', 'body', 'fallbackModels', false, 'list'),
      s('requests-per-minute', 'body', 'limits.requestsPerMinute', false, 'integer'),
      s('tokens-per-minute', 'body', 'limits.tokensPerMinute', false, 'integer'),
      s('concurrent-requests', 'body', 'limits.concurrentRequests', false, 'integer'),
      s('expires-at', 'body', 'expiresAt'),
    ],
  },
  { name: 'keys list', summary: 'List keys (no secrets)', method: 'GET', path: '/tenants/{tenantId}/keys', flags: [tenant] },
  {
    name: 'keys rotate',
    summary: 'Rotate a key; the old secret keeps working for the grace period',
    method: 'POST',
    path: '/tenants/{tenantId}/keys/{keyId}/rotate',
    flags: [tenant, s('key', 'path', 'keyId', true), s('grace-period-seconds', 'body', 'gracePeriodSeconds', false, 'integer')],
  },
  { name: 'keys revoke', summary: 'Revoke a key', method: 'DELETE', path: '/tenants/{tenantId}/keys/{keyId}', flags: [tenant, s('key', 'path', 'keyId', true)] },
  {
    name: 'credentials set',
    summary: "Set a provider credential (prefer --api-key-env NAME to keep the key out of shell history)",
    method: 'PUT',
    path: '/tenants/{tenantId}/credentials/{provider}',
    flags: [tenant, s('provider', 'path', 'provider', true), { flag: 'api-key', to: 'body', field: 'apiKey', required: true, fromEnv: true }, s('base-url', 'body', 'baseUrl')],
  },
  { name: 'credentials list', summary: 'List provider credentials (masked)', method: 'GET', path: '/tenants/{tenantId}/credentials', flags: [tenant] },
  { name: 'credentials delete', summary: 'Delete a provider credential', method: 'DELETE', path: '/tenants/{tenantId}/credentials/{provider}', flags: [tenant, s('provider', 'path', 'provider', true)] },
  { name: 'credentials rewrap', summary: 'Re-wrap every credential under the newest master key', method: 'POST', path: '/credentials/rewrap', flags: [] },
  {
    name: 'credits grant',
    summary: 'Grant credits in micro-USD (--reason is also the grant reason)',
    method: 'POST',
    path: '/tenants/{tenantId}/credits',
    flags: [tenant, s('amount-micro-usd', 'body', 'amountMicroUsd', true, 'integer'), s('reason', 'body', 'reason')],
  },
  { name: 'credits list', summary: 'List credit grants', method: 'GET', path: '/tenants/{tenantId}/credits', flags: [tenant] },
  { name: 'balance', summary: 'Credits minus spend, per tenant and project', method: 'GET', path: '/tenants/{tenantId}/balance', flags: [tenant] },
  { name: 'budgets status', summary: "Each budget with this period's spend", method: 'GET', path: '/tenants/{tenantId}/budgets/status', flags: [tenant] },
  {
    name: 'budgets set',
    summary: 'Set a budget (scope: tenant, project:<id> or key:<id>)',
    method: 'PUT',
    path: '/tenants/{tenantId}/budgets/{scope}',
    flags: [tenant, s('scope', 'path', 'scope', true), s('period', 'body', 'period', true), s('limit-micro-usd', 'body', 'limitMicroUsd', true, 'integer')],
  },
  { name: 'budgets list', summary: 'List budgets', method: 'GET', path: '/tenants/{tenantId}/budgets', flags: [tenant] },
  {
    name: 'budgets delete',
    summary: 'Remove a budget',
    method: 'DELETE',
    path: '/tenants/{tenantId}/budgets/{scope}',
    flags: [tenant, s('scope', 'path', 'scope', true), s('period', 'query', 'period', true)],
  },
  {
    name: 'rate-limits set',
    summary: 'Set rate limits (scope: tenant, project:<id> or key:<id>)',
    method: 'PUT',
    path: '/tenants/{tenantId}/rate-limits/{scope}',
    flags: [
      tenant,
      s('scope', 'path', 'scope', true),
      s('requests-per-minute', 'body', 'requestsPerMinute', false, 'integer'),
      s('tokens-per-minute', 'body', 'tokensPerMinute', false, 'integer'),
      s('concurrent-requests', 'body', 'concurrentRequests', false, 'integer'),
    ],
  },
  { name: 'rate-limits list', summary: 'List rate limits', method: 'GET', path: '/tenants/{tenantId}/rate-limits', flags: [tenant] },
  { name: 'rate-limits delete', summary: 'Remove the rate limits of a scope', method: 'DELETE', path: '/tenants/{tenantId}/rate-limits/{scope}', flags: [tenant, s('scope', 'path', 'scope', true)] },
  {
    name: 'limits-policy set',
    summary: 'fail_open or fail_closed while the limiter (Redis) is unreachable',
    method: 'PUT',
    path: '/tenants/{tenantId}/limits-policy',
    flags: [tenant, s('on-limiter-unavailable', 'body', 'onLimiterUnavailable', true)],
  },
  { name: 'limits-policy get', summary: 'Show the limits policy', method: 'GET', path: '/tenants/{tenantId}/limits-policy', flags: [tenant] },
  {
    name: 'cache set',
    summary: 'Set the response cache (mode off, exact or semantic)',
    method: 'PUT',
    path: '/tenants/{tenantId}/cache-settings',
    flags: [
      tenant,
      s('mode', 'body', 'mode'),
      s('ttl-seconds', 'body', 'ttlSeconds', false, 'integer'),
      s('max-entries', 'body', 'maxEntries', false, 'integer'),
      s('similarity-threshold', 'body', 'similarityThreshold', false, 'number'),
      s('embedding-model', 'body', 'embeddingModel'),
    ],
  },
  { name: 'cache get', summary: 'Show the response cache settings', method: 'GET', path: '/tenants/{tenantId}/cache-settings', flags: [tenant] },
  {
    name: 'alert-rules create',
    summary: 'Create an alert rule',
    method: 'POST',
    path: '/tenants/{tenantId}/alert-rules',
    flags: [
      tenant,
      s('kind', 'body', 'kind', true),
      s('scope', 'body', 'scope', true),
      s('threshold', 'body', 'threshold', true, 'integer'),
      s('period', 'body', 'period', true),
      s('webhook-url', 'body', 'webhookUrl'),
    ],
  },
  { name: 'alert-rules list', summary: 'List alert rules', method: 'GET', path: '/tenants/{tenantId}/alert-rules', flags: [tenant] },
  { name: 'alert-rules delete', summary: 'Delete an alert rule', method: 'DELETE', path: '/tenants/{tenantId}/alert-rules/{ruleId}', flags: [tenant, s('rule', 'path', 'ruleId', true)] },
  { name: 'alerts list', summary: 'The alerts that fired, newest first', method: 'GET', path: '/tenants/{tenantId}/alerts', flags: [tenant, s('limit', 'query', 'limit', false, 'integer')] },
  {
    name: 'webhooks deliveries',
    summary: 'The alert webhook delivery log, newest first',
    method: 'GET',
    path: '/tenants/{tenantId}/webhook-deliveries',
    flags: [tenant, s('limit', 'query', 'limit', false, 'integer')],
  },
  { name: 'webhooks secret', summary: 'The secret that verifies the tenant’s alert webhooks', method: 'GET', path: '/tenants/{tenantId}/webhook-secret', flags: [tenant] },
  {
    name: 'price-overrides set',
    summary: "Override a model's price for a tenant",
    method: 'PUT',
    path: '/tenants/{tenantId}/price-overrides/{model}',
    flags: [
      tenant,
      s('model', 'path', 'model', true),
      s('input-micro-usd-per-million', 'body', 'inputMicroUsdPerMillion', false, 'integer'),
      s('output-micro-usd-per-million', 'body', 'outputMicroUsdPerMillion', false, 'integer'),
      s('cached-input-micro-usd-per-million', 'body', 'cachedInputMicroUsdPerMillion', false, 'integer'),
      s('markup-basis-points', 'body', 'markupBasisPoints', false, 'integer'),
    ],
  },
  { name: 'price-overrides list', summary: 'List price overrides', method: 'GET', path: '/tenants/{tenantId}/price-overrides', flags: [tenant] },
  { name: 'price-overrides delete', summary: 'Remove a price override', method: 'DELETE', path: '/tenants/{tenantId}/price-overrides/{model}', flags: [tenant, s('model', 'path', 'model', true)] },
  ...(['list', 'export'] as const).map(
    (verb): CliCommand => ({
      name: `audit ${verb}`,
      summary: verb === 'list' ? 'A page of the audit trail' : 'The whole audit trail as JSONL',
      method: 'GET',
      path: '/tenants/{tenantId}/audit',
      flags: [
        tenant,
        s('from', 'query', 'from'),
        s('to', 'query', 'to'),
        s('actor', 'query', 'actor'),
        s('type', 'query', 'type'),
        s('after', 'query', 'after', false, 'integer'),
        ...(verb === 'list' ? [s('limit', 'query', 'limit', false, 'integer')] : []),
      ],
      fixedQuery: { format: verb === 'list' ? 'json' : 'jsonl' },
    }),
  ),
  { name: 'audit verify', summary: "Verify a tenant's audit hash chain", method: 'GET', path: '/tenants/{tenantId}/audit/verify', flags: [tenant] },
  {
    name: 'reports chargeback',
    summary: 'Spend per project, key, user, model, provider, day or hour (--group-by, up to three); --format csv for a spreadsheet',
    method: 'GET',
    path: '/tenants/{tenantId}/reports/chargeback',
    flags: [tenant, s('from', 'query', 'from'), s('to', 'query', 'to'), s('group-by', 'query', 'groupBy'), s('format', 'query', 'format')],
  },
  { name: 'reports reconcile', summary: 'ClickHouse spend against the Postgres balances, to the micro-USD', method: 'GET', path: '/tenants/{tenantId}/reports/reconciliation', flags: [tenant] },
  { name: 'whoami', summary: 'The tenant, role and project of the key in use', method: 'GET', path: '/me', flags: [] },
]

/** `--flag value` and `--flag=value`; every flag takes a value. */
function readFlags(args: readonly string[]): Map<string, string> {
  const values = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith('--') || arg === '--') throw new CliUsageError(`Unexpected argument '${arg}': flags look like --name value`)
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let value: string | undefined
    if (eq !== -1) value = arg.slice(eq + 1)
    else {
      value = args[i + 1]
      if (value === undefined || value.startsWith('--')) throw new CliUsageError(`--${flag} needs a value`)
      i++
    }
    if (values.has(flag)) throw new CliUsageError(`--${flag} is given twice`)
    values.set(flag, value)
  }
  return values
}

function convert(flag: Flag, raw: string): unknown {
  if (flag.type === 'integer') {
    if (!/^-?\d+$/.test(raw)) throw new CliUsageError(`--${flag.flag} must be a whole number, got '${raw}'`)
    return Number(raw)
  }
  if (flag.type === 'number') {
    if (!/^-?\d+(\.\d+)?$/.test(raw)) throw new CliUsageError(`--${flag.flag} must be a number, got '${raw}'`)
    return Number(raw)
  }
  if (flag.type === 'list') return raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
  return raw
}

function setField(body: Record<string, unknown>, field: string, value: unknown): void {
  const [head, ...rest] = field.split('.')
  if (rest.length === 0) {
    body[head!] = value
    return
  }
  const child = (body[head!] ??= {}) as Record<string, unknown>
  setField(child, rest.join('.'), value)
}

export function findCommand(words: readonly string[]): { command: CliCommand; rest: string[] } | undefined {
  const command = COMMANDS.find((c) => c.name === words.slice(0, 2).join(' '))
  return command === undefined ? undefined : { command, rest: words.slice(2) }
}

/** Turns `keys issue --tenant t --name ci --role developer` into the HTTP call it stands for. */
export function parseCommand(argv: readonly string[], env: Record<string, string | undefined> = {}): CliRequest {
  const found = findCommand(argv)
  if (found === undefined) throw new CliUsageError(`Unknown command '${argv.slice(0, 2).join(' ')}'; run with --help for the list`)
  const { command, rest } = found
  const values = readFlags(rest)
  const reason = values.get('reason')
  values.delete('reason')

  const pathParams: Record<string, string> = {}
  const query = new URLSearchParams(command.fixedQuery)
  const body: Record<string, unknown> = {}
  for (const flag of command.flags) {
    let raw = flag.flag === 'reason' ? reason : values.get(flag.flag)
    values.delete(flag.flag)
    if (flag.fromEnv === true && values.has(`${flag.flag}-env`)) {
      if (raw !== undefined) throw new CliUsageError(`Give --${flag.flag} or --${flag.flag}-env, not both`)
      const name = values.get(`${flag.flag}-env`)!
      values.delete(`${flag.flag}-env`)
      raw = env[name]
      if (raw === undefined || raw === '') throw new CliUsageError(`--${flag.flag}-env names ${name}, which is not set`)
    }
    if (raw === undefined) {
      if (flag.required === true) throw new CliUsageError(`${command.name} needs --${flag.flag}${flag.fromEnv === true ? ` (or --${flag.flag}-env NAME)` : ''}`)
      continue
    }
    const value = convert(flag, raw)
    if (flag.to === 'path') pathParams[flag.field] = raw
    else if (flag.to === 'query') query.set(flag.field, raw)
    else setField(body, flag.field, value)
  }
  const unknown = [...values.keys()]
  if (unknown.length > 0) throw new CliUsageError(`${command.name} has no flag --${unknown[0]}`)

  const path = command.path.replace(/\{([A-Za-z]+)\}/g, (_all, name: string) => encodeURIComponent(pathParams[name]!))
  const search = query.toString()
  // Writes always send a JSON body, `{}` when no flag fills it: the API refuses an empty JSON body.
  const hasBody = command.method === 'POST' || command.method === 'PUT' || command.method === 'PATCH'
  return {
    method: command.method,
    path: search === '' ? path : `${path}?${search}`,
    body: hasBody ? body : undefined,
    reason,
  }
}

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  const lines = COMMANDS.map((c) => {
    const flags = c.flags.map((f) => (f.required === true ? `--${f.flag} <${f.type ?? 'string'}>` : `[--${f.flag}]`)).join(' ')
    return `  ${c.name.padEnd(width)}  ${c.summary}\n  ${''.padEnd(width)}  ${flags}`
  })
  return [
    'Usage: npm run -s admin -- <command> [--flags] [--reason "why"]',
    '',
    'Calls the admin API at SUPERGATE_ADMIN_URL (default http://127.0.0.1:8080) with SUPERGATE_ADMIN_TOKEN or',
    'SUPERGATE_API_KEY, and prints the JSON answer. --reason is recorded in the audit trail with the change.',
    '',
    'Commands:',
    ...lines,
    '',
  ].join('\n')
}
