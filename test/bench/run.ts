/**
 * `npm run bench`: the cost of the hot path, side by side in one run (issue 6), on the real services.
 *
 *  1. Latency: sequential non-streamed calls, alternating between the scenarios so that machine noise hits all
 *     alike: straight to the mock upstream (the baseline), then through one gateway process with the same
 *     gateway's limits and cache off (pass-through), limits and budget admission (Redis buckets, concurrency,
 *     budget and balance reservations: the brief's "full pipeline"), that and the exact cache on a miss, an
 *     exact cache hit and a semantic cache hit. Every call's events go to Kafka.
 *  2. CPU and throughput: for each gateway scenario, `--connections` requests kept in flight for
 *     `--load-seconds`; the gateway's own CPU time per request (from /proc, so what the load generator, the mock
 *     and the databases spend on the same 2 cores is not counted), the requests per second reached and its memory.
 *  3. The semantic cache's lookup at `--entries` entries for one tenant (test/bench/semantic-lookup.ts).
 *
 * Prints a markdown table and writes it with the figures as JSON to .bench/ (latest.md, latest.json).
 *
 *   npm run bench
 *   npm run bench -- --calls=300 --load-seconds=5 --entries=20000
 *   npm run bench -- --no-semantic-lookup
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { closedLoop } from './load.ts'
import type { LoadResult, LoadTarget } from './load.ts'
import { semanticLookupBench, semanticLookupReport } from './semantic-lookup.ts'
import type { SemanticLookupFigures } from './semantic-lookup.ts'
import { startBenchStack } from './stack.ts'

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    'load-seconds': { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    entries: { type: 'string', default: '100000' },
    'no-semantic-lookup': { type: 'boolean', default: false },
    projections: { type: 'string', default: 'off' },
  },
})
const calls = Number(args.calls)
const loadMs = Number(args['load-seconds']) * 1000
const connections = Number(args.connections)
const entries = Number(args.entries)

const stack = await startBenchStack({ projections: args.projections === 'on' })
const gatewayOrigin = new URL(stack.gateway.url).origin
const mockOrigin = new URL(stack.mock.url).origin
const PATH = '/v1/chat/completions'
let n = 0
const body = (prompt: string) => JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: prompt }] })
// Semantic reuse is for low temperatures only (the tenant's semanticMaxTemperature, 0.5 by default).
const lowTemperature = (prompt: string) => JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: prompt }] })
const expectCache = (expected: string) => (_status: number, headers: Record<string, string | string[] | undefined>) =>
  headers['x-supergate-cache'] === expected ? undefined : `expected x-supergate-cache ${expected}, got ${String(headers['x-supergate-cache'])}`

interface Scenario {
  name: string
  target: LoadTarget
  /** Whether the gateway's CPU is measured under load (not for the mock alone). */
  gateway: boolean
}
const scenarios: Scenario[] = [
  { name: 'direct to the mock', gateway: false, target: { origin: mockOrigin, path: PATH, headers: { authorization: 'Bearer direct' }, body: body('Hello') } },
  { name: 'pass-through (limits, cache off)', gateway: true, target: { origin: gatewayOrigin, path: PATH, headers: { authorization: `Bearer ${stack.keys.passThrough}` }, body: body('Hello') } },
  {
    name: 'limits + budget admission (no cache)',
    gateway: true,
    target: { origin: gatewayOrigin, path: PATH, headers: { authorization: `Bearer ${stack.keys.limited}` }, body: () => body(`Hello ${n++}`), check: expectCache('bypass') },
  },
  {
    name: 'full pipeline, cache miss',
    gateway: true,
    target: { origin: gatewayOrigin, path: PATH, headers: { authorization: `Bearer ${stack.keys.full}` }, body: () => body(`Hello ${n++}`), check: expectCache('miss') },
  },
  {
    name: 'cache hit, exact',
    gateway: true,
    target: { origin: gatewayOrigin, path: PATH, headers: { authorization: `Bearer ${stack.keys.full}` }, body: body('Hello cached'), check: expectCache('hit-exact') },
  },
  {
    name: 'cache hit, semantic',
    gateway: true,
    // Worded apart from the entry (so the exact tier misses), the same in meaning: the embedding finds it.
    target: { origin: gatewayOrigin, path: PATH, headers: { authorization: `Bearer ${stack.keys.semantic}` }, body: () => lowTemperature(n++ % 2 === 0 ? 'what is the capital of france' : 'What is the capital of France ?'), check: expectCache('hit-semantic') },
  },
]

async function once(target: LoadTarget): Promise<number> {
  const started = process.hrtime.bigint()
  const response = await request(`${target.origin}${target.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: typeof target.body === 'string' ? target.body : target.body(),
  })
  await response.body.text()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  const problem = response.statusCode !== 200 ? `answered ${response.statusCode}` : target.check?.(response.statusCode, response.headers)
  if (problem !== undefined) throw new Error(`${target.origin}${target.path}: ${problem}`)
  return ms
}

// Fill the two cache entries the hits read, then warm every path (JIT, pools) before measuring.
await request(`${gatewayOrigin}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.keys.full}` }, body: body('Hello cached') }).then((r) => r.body.text())
await request(`${gatewayOrigin}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.keys.semantic}` }, body: lowTemperature('What is the capital of France?') }).then((r) => r.body.text())
await new Promise((resolve) => setTimeout(resolve, 500))
for (let i = 0; i < 100; i++) for (const s of scenarios) await once(s.target)

console.error(`latency: ${calls} sequential calls per scenario, alternating`)
const samples = scenarios.map(() => [] as number[])
for (let i = 0; i < calls; i++) for (const [j, s] of scenarios.entries()) samples[j]!.push(await once(s.target))

const loads: (LoadResult | undefined)[] = []
for (const s of scenarios) {
  console.error(`load: ${s.name}, ${connections} connections for ${loadMs / 1000} s`)
  await closedLoop(s.target, { connections, durationMs: 1_000 })
  loads.push(await closedLoop(s.target, { connections, durationMs: loadMs, ...(s.gateway ? { pid: stack.gateway.pid } : {}) }))
}
await stack.close()

let semantic: SemanticLookupFigures | undefined
if (!args['no-semantic-lookup']) {
  console.error(`semantic lookup at ${entries} entries`)
  semantic = await semanticLookupBench({ entries, databaseUrl: stack.env.SUPERGATE_DATABASE_URL!, log: (line) => console.error(line) })
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const ms = (v: number) => v.toFixed(3)
const directP50 = quantile(samples[0]!, 0.5)
const passP50 = quantile(samples[1]!, 0.5)
const rows = scenarios.map((s, i) => {
  const values = samples[i]!
  const load = loads[i]
  return {
    scenario: s.name,
    p50: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    p99: quantile(values, 0.99),
    overDirectP50: i === 0 ? null : quantile(values, 0.5) - directP50,
    overPassThroughP50: i < 2 ? null : quantile(values, 0.5) - passP50,
    requestsPerSecond: load?.requestsPerSecond ?? null,
    loadP99: load?.p99 ?? null,
    cpuMsPerRequest: s.gateway ? (load?.cpuMsPerRequest ?? null) : null,
    gatewayCores: s.gateway ? (load?.cores ?? null) : null,
    rssMiB: s.gateway ? (load?.rssMiB ?? null) : null,
  }
})
const lines = [
  `## Supergate hot path, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}`,
  '',
  `Real PostgreSQL, Redis and Kafka from infra/services.sh; one gateway process (projections ${args.projections}); OpenAI mock upstream.`,
  `Latency: ${calls} sequential non-streamed calls per scenario, alternating (ms). Load: ${connections} connections in flight for ${loadMs / 1000} s per scenario; the gateway's CPU from /proc.`,
  '',
  '| scenario | p50 | p90 | p99 | p50 over direct | p50 over pass-through | req/s under load | p99 under load | gateway CPU ms/req | gateway cores | gateway RSS MiB |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${r.overDirectP50 === null ? '' : `+${ms(r.overDirectP50)}`} | ${r.overPassThroughP50 === null ? '' : `${r.overPassThroughP50 >= 0 ? '+' : ''}${ms(r.overPassThroughP50)}`} | ${r.requestsPerSecond?.toFixed(0) ?? ''} | ${r.loadP99 === null ? '' : ms(r.loadP99)} | ${r.cpuMsPerRequest === null ? '' : ms(r.cpuMsPerRequest)} | ${r.gatewayCores?.toFixed(2) ?? ''} | ${r.rssMiB?.toFixed(0) ?? ''} |`,
  ),
  '',
  "Baseline for comparison (issue 8's figures for Portkey's open-source gateway as a bare proxy on a machine of this kind): 0.63 ms CPU per request, about 1,600 req/s per core, +0.7 ms p50 over direct at 500 req/s. Our target with the full pipeline: at most 0.2 ms CPU per request and +0.3 ms p50.",
  ...(semantic === undefined ? [] : ['', '### Semantic lookup', '', '```', ...semanticLookupReport(semantic), '```']),
]
const markdown = lines.join('\n')
console.log(markdown)
mkdirSync('.bench', { recursive: true })
writeFileSync('.bench/latest.md', `${markdown}\n`)
writeFileSync('.bench/latest.json', `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, node: process.version, calls, connections, loadSeconds: loadMs / 1000, projections: args.projections, rows, semanticLookup: semantic ?? null }, null, 2)}\n`)
