/**
 * The cost of the hot path (issue 6), side by side in one run, on the real services (PostgreSQL, Redis and
 * Kafka from infra/services.sh), one gateway process, sequential calls alternating between scenarios so that
 * machine noise hits all alike:
 *
 *   direct            the OpenAI mock itself
 *   pass-through      a gateway key with no limits and no cache (auth, routing, events)
 *   full pipeline     a tenant key with request and token buckets at key and tenant scope, a concurrency
 *                     limit, a day budget and a prepaid balance (one Redis round trip to admit, one to
 *                     settle), and the exact cache on but missed (a new prompt each call)
 *   cache hit         the same tenant, the same prompt every call: answered from the exact cache
 *
 *   npm run bench:hotpath            (500 calls per scenario)
 *   npm run bench:hotpath -- 2000
 */
import { execFileSync } from 'node:child_process'
import { request } from 'undici'
import { startMock } from '../mocks/mock-server.ts'
import { openAiMock } from '../mocks/openai.ts'
import { startGateway } from '../support/gateway-process.ts'

const calls = Number(process.argv[2] ?? 500)
const ADMIN = 'sg-admin-hot-path-bench-token-0000000001'
const PASS_KEY = 'sg-bench-pass-through-key-000000001'

execFileSync('bash', ['infra/services.sh', 'up'], { stdio: ['ignore', 'ignore', 'inherit'] })
const env = Object.fromEntries(
  execFileSync('bash', ['infra/services.sh', 'env'], { encoding: 'utf8' })
    .split('\n')
    .flatMap((line) => {
      const m = /^export (\w+)=(.*)$/.exec(line)
      return m === null ? [] : [[m[1]!, m[2]!]]
    }),
)
const mock = await startMock(openAiMock())
const gateway = await startGateway({
  ...env,
  SUPERGATE_ADMIN_TOKEN: ADMIN,
  SUPERGATE_MASTER_KEY: Buffer.alloc(32, 11).toString('base64'),
  SUPERGATE_API_KEYS: PASS_KEY,
  SUPERGATE_OPENAI_API_KEY: 'upstream-bench-key',
  SUPERGATE_OPENAI_BASE_URL: `${mock.url}/v1`,
  SUPERGATE_LOG_LEVEL: 'warn',
  // BENCH_PROJECTIONS=off measures a gateway process that leaves the projections to another process.
  SUPERGATE_PROJECTIONS: process.env.BENCH_PROJECTIONS ?? 'on',
})

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return (await response.json().catch(() => ({}))) as Record<string, unknown>
}

const tenant = String((await admin('POST', '/tenants', { name: `bench-${Date.now()}` })).id)
const issued = await admin('POST', `/tenants/${tenant}/keys`, { name: 'bench', role: 'developer' })
const fullKey = String(issued.key)
await admin('PUT', `/tenants/${tenant}/rate-limits/tenant`, { requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000, concurrentRequests: 1000 })
await admin('PUT', `/tenants/${tenant}/rate-limits/key:${String(issued.id)}`, { requestsPerMinute: 10_000_000, tokensPerMinute: 1_000_000_000 })
await admin('PUT', `/tenants/${tenant}/budgets/tenant`, { period: 'day', limitMicroUsd: 1_000_000_000_000 })
await admin('POST', `/tenants/${tenant}/credits`, { amountMicroUsd: 1_000_000_000_000 })
await admin('PUT', `/tenants/${tenant}/cache-settings`, { mode: 'exact' })
await new Promise((r) => setTimeout(r, 1_000))

let n = 0
const body = (prompt: string) => JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: prompt }] })
async function timed(url: string, auth: string, payload: string, expectCache?: string): Promise<number> {
  const started = process.hrtime.bigint()
  const response = await request(url, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body: payload })
  await response.body.text()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (response.statusCode !== 200) throw new Error(`${url} answered ${response.statusCode}`)
  if (expectCache !== undefined && response.headers['x-supergate-cache'] !== expectCache) {
    throw new Error(`expected x-supergate-cache ${expectCache}, got ${String(response.headers['x-supergate-cache'])}`)
  }
  return ms
}

const scenarios = {
  direct: () => timed(`${mock.url}/v1/chat/completions`, 'direct', body('Hello')),
  'pass-through': () => timed(`${gateway.url}/v1/chat/completions`, PASS_KEY, body('Hello')),
  'full pipeline (cache miss)': () => timed(`${gateway.url}/v1/chat/completions`, fullKey, body(`Hello ${n++}`), 'miss'),
  'cache hit (exact)': () => timed(`${gateway.url}/v1/chat/completions`, fullKey, body('Hello cached'), 'hit-exact'),
}
// Warm up every path (JIT, pools, the cache entry) before measuring.
await timed(`${gateway.url}/v1/chat/completions`, fullKey, body('Hello cached'))
await new Promise((r) => setTimeout(r, 500))
for (let i = 0; i < 100; i++) for (const run of Object.values(scenarios)) await run()

const samples = Object.fromEntries(Object.keys(scenarios).map((name) => [name, [] as number[]]))
for (let i = 0; i < calls; i++) for (const [name, run] of Object.entries(scenarios)) samples[name]!.push(await run())

const q = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))]!
const cell = (v: number) => v.toFixed(3).padStart(9)
console.log(`hot path, ${calls} sequential non-streamed calls per scenario, alternating; real PostgreSQL, Redis, Kafka; projections in the gateway process: ${process.env.BENCH_PROJECTIONS ?? 'on'} (ms)`)
console.log(`${'scenario'.padEnd(28)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)}   p50 over direct`)
const direct = q(samples.direct!, 0.5)
for (const [name, values] of Object.entries(samples)) {
  console.log(`${name.padEnd(28)} ${cell(q(values, 0.5))} ${cell(q(values, 0.9))} ${cell(q(values, 0.99))}   ${name === 'direct' ? '' : `+${(q(values, 0.5) - direct).toFixed(3)}`}`)
}
const pass = q(samples['pass-through']!, 0.5)
console.log(`limits + budget admission + cache lookup cost over pass-through, p50: +${(q(samples['full pipeline (cache miss)']!, 0.5) - pass).toFixed(3)} ms`)
await gateway.stop()
await mock.close()
