/**
 * `npm run bench`: Supergate's hot path and its peers on the same machine, in one run (issues 6 and 8), on the
 * real services (PostgreSQL, Redis, Kafka from infra/services.sh) and a fast OpenAI-format mock upstream.
 *
 * Scenarios: straight to the mock (the physical limit); Supergate pass-through (auth, routing, events; no limits,
 * no cache); limits and budget admission (Redis buckets, concurrency, budget and balance reservations); the full
 * pipeline (that and the exact cache, missed); an exact and a semantic cache hit; Portkey's open-source gateway
 * and LiteLLM's proxy in front of the same mock. Every Supergate call's events go to Kafka.
 *
 *  1. latency: sequential non-streamed calls, alternating between the scenarios so that noise hits all alike;
 *  2. paced: open-loop load at fixed rates (500 and 2,000 req/s), latency from each request's scheduled send time,
 *     the target's CPU time per request (from /proc), in `--rounds` rounds with the scenarios' order rotated,
 *     reported as the median over the rounds;
 *  3. throughput: `--connections` requests kept in flight: the most each target serves on its core;
 *  4. streamed: time to the first content token and to the end of a streamed call;
 *  5. the semantic cache's lookup at `--entries` entries for one tenant (./semantic-lookup.ts).
 * Where taskset exists, the gateway (and each peer) runs on core 1, the mock and this load generator on core 0.
 * A peer that cannot be installed here is reported as such. Writes .bench/latest.md and .bench/latest.json.
 *
 *   npm run bench
 *   npm run bench -- --rounds=1 --seconds=3 --entries=20000 --no-peers
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { closedLoop, paced, streamOnce } from './load.ts'
import type { LoadResult, LoadTarget, PacedResult } from './load.ts'
import { startLiteLlm, startPortkey } from './peers.ts'
import type { RunningPeer } from './peers.ts'
import { benchReport } from './report.ts'
import type { BenchFigures, ScenarioFigures } from './report.ts'
import { semanticLookupBench } from './semantic-lookup.ts'
import { startBenchStack } from './stack.ts'

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    rates: { type: 'string', default: '500,2000' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    streams: { type: 'string', default: '200' },
    entries: { type: 'string', default: '100000' },
    'no-semantic-lookup': { type: 'boolean', default: false },
    'no-peers': { type: 'boolean', default: false },
    projections: { type: 'string', default: 'off' },
  },
})
/** A whole number from 1 to `max`, or the bench stops at once saying which option is wrong. */
function whole(name: string, text: string, max: number): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    console.error(`npm run bench: --${name} takes a whole number from 1 to ${max}, not '${text}'`)
    process.exit(2)
  }
  return value
}
if (args.projections !== 'on' && args.projections !== 'off') {
  console.error(`npm run bench: --projections takes on or off, not '${args.projections}'`)
  process.exit(2)
}
const rates = args.rates.split(',').map((rate) => whole('rates', rate, 100_000))
const rounds = whole('rounds', args.rounds, 100)
const durationMs = whole('seconds', args.seconds, 3_600) * 1000
const calls = whole('calls', args.calls, 1_000_000)
const connections = whole('connections', args.connections, 10_000)
const streams = whole('streams', args.streams, 1_000_000)
const entries = whole('entries', args.entries, 10_000_000)
const log = (line: string) => console.error(`[bench] ${line}`)

// The gateway, the mock and the peers are child processes: a bench that fails or is interrupted must not leave
// them running (holding ports and cores). Exit handlers run synchronously; sending a signal is.
const children: number[] = []
process.once('exit', () => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
})
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))

// Two cores or more: the targets on core 1, the mock and this load generator on core 0.
const pinning = cpus().length >= 2 && existsSync('/usr/bin/taskset')
if (pinning) execFileSync('/usr/bin/taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' })
const targetCpus = pinning ? '1' : undefined
const mockCpus = pinning ? '0' : undefined

const stack = await startBenchStack({ projections: args.projections === 'on', ...(targetCpus === undefined ? {} : { gatewayCpus: targetCpus }), ...(mockCpus === undefined ? {} : { mockCpus }) })
children.push(stack.gateway.pid, stack.mock.pid)
const peers: RunningPeer[] = []
const peerProblems: { name: string; problem: string }[] = []
if (!args['no-peers']) {
  for (const [name, start] of [
    ['Portkey', startPortkey],
    ['LiteLLM', startLiteLlm],
  ] as const) {
    log(`starting ${name} (installed on first use)`)
    try {
      const peer = await start(stack.mock.url, targetCpus)
      children.push(peer.pid)
      peers.push(peer)
    } catch (error) {
      peerProblems.push({ name, problem: (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300) })
    }
  }
}

const PATH = '/v1/chat/completions'
let n = 0
const chat = (model: string, prompt: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content: prompt }], ...extra })
const expectCache = (expected: string) => (_status: number, headers: Record<string, string | string[] | undefined>) =>
  headers['x-supergate-cache'] === expected ? undefined : `expected x-supergate-cache ${expected}, got ${String(headers['x-supergate-cache'])}`
const origin = (url: string) => new URL(url).origin
const gateway = origin(stack.gateway.url)
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const STREAM = { stream: true, stream_options: { include_usage: true } }

interface Scenario {
  name: string
  target: LoadTarget
  /** Its streamed twin, for time to first token. */
  stream?: LoadTarget
  pid?: number
}
const model = 'openai/gpt-4o-mini'
const scenarios: Scenario[] = [
  {
    name: 'direct to the mock',
    // The mock's own CPU per request: what merely serving HTTP costs on this machine at each rate.
    pid: stack.mock.pid,
    target: { origin: origin(stack.mock.url), path: PATH, headers: {}, body: chat('gpt-4o-mini', 'Hello') },
    stream: { origin: origin(stack.mock.url), path: PATH, headers: {}, body: chat('gpt-4o-mini', 'Hello', STREAM) },
  },
  {
    name: 'Supergate pass-through',
    pid: stack.gateway.pid,
    target: { origin: gateway, path: PATH, headers: bearer(stack.keys.passThrough), body: chat(model, 'Hello') },
    stream: { origin: gateway, path: PATH, headers: bearer(stack.keys.passThrough), body: chat(model, 'Hello', STREAM) },
  },
  {
    name: 'Supergate limits + budget',
    pid: stack.gateway.pid,
    target: { origin: gateway, path: PATH, headers: bearer(stack.keys.limited), body: () => chat(model, `Hello ${n++}`), check: expectCache('bypass') },
  },
  {
    name: 'Supergate full pipeline (cache miss)',
    pid: stack.gateway.pid,
    target: { origin: gateway, path: PATH, headers: bearer(stack.keys.full), body: () => chat(model, `Hello ${n++}`), check: expectCache('miss') },
    stream: { origin: gateway, path: PATH, headers: bearer(stack.keys.full), body: () => chat(model, `Hello ${n++}`, STREAM) },
  },
  {
    name: 'Supergate cache hit, exact',
    pid: stack.gateway.pid,
    target: { origin: gateway, path: PATH, headers: bearer(stack.keys.full), body: chat(model, 'Hello cached'), check: expectCache('hit-exact') },
  },
  {
    name: 'Supergate cache hit, semantic',
    pid: stack.gateway.pid,
    // Worded apart from the entry (the exact tier misses), the same in meaning; semantic reuse is for low temperatures.
    target: {
      origin: gateway,
      path: PATH,
      headers: bearer(stack.keys.semantic),
      body: () => chat(model, n++ % 2 === 0 ? 'what is the capital of france' : 'What is the capital of France ?', { temperature: 0 }),
      check: expectCache('hit-semantic'),
    },
  },
  ...peers.map((peer) => ({
    name: peer.name,
    pid: peer.pid,
    target: { origin: origin(peer.url), path: PATH, headers: peer.headers, body: chat(peer.model, 'Hello') },
    stream: { origin: origin(peer.url), path: PATH, headers: peer.headers, body: chat(peer.model, 'Hello', STREAM) },
  })),
]

/** One call on a kept-alive connection: its latency in milliseconds; a wrong answer stops the bench. */
async function once(target: LoadTarget): Promise<number> {
  const started = performance.now()
  const body = typeof target.body === 'string' ? target.body : target.body()
  const response = await request(`${target.origin}${target.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...target.headers }, body })
  const text = await response.body.text()
  const ms = performance.now() - started
  const problem = response.statusCode !== 200 ? `answered ${response.statusCode}: ${text.slice(0, 300)}` : target.check?.(response.statusCode, response.headers)
  if (problem !== undefined) throw new Error(`${target.origin}${target.path}: ${problem}`)
  return ms
}

// Fill the entries the hits read, then warm every path (JIT, pools) before measuring.
await once({ ...scenarios[4]!.target, check: undefined })
await once({ ...scenarios[5]!.target, body: chat(model, 'What is the capital of France?', { temperature: 0 }), check: undefined })
await new Promise((resolve) => setTimeout(resolve, 500))
for (let i = 0; i < 100; i++) for (const s of scenarios) await once(s.target)

log(`latency: ${calls} sequential calls per scenario, alternating`)
const sequential = scenarios.map(() => [] as number[])
for (let i = 0; i < calls; i++) for (const [j, s] of scenarios.entries()) sequential[j]!.push(await once(s.target))

const pacedRuns = new Map<string, PacedResult[]>()
for (let round = 0; round < rounds; round++) {
  for (const rate of rates) {
    // Each round starts the rotation one scenario later: no scenario always follows the same one.
    const order = scenarios
    for (let k = 0; k < order.length; k++) {
      const s = order[(k + round) % order.length]!
      log(`paced: round ${round + 1}/${rounds}, ${rate} req/s, ${s.name}`)
      const result = await paced(s.target, { rate, durationMs, ...(s.pid === undefined ? {} : { pid: s.pid }) })
      pacedRuns.set(`${s.name}@${rate}`, [...(pacedRuns.get(`${s.name}@${rate}`) ?? []), result])
    }
  }
}

const throughput: (LoadResult | undefined)[] = []
for (const s of scenarios) {
  log(`throughput: ${s.name}, ${connections} connections for ${durationMs / 1000} s`)
  await closedLoop(s.target, { connections: connections, durationMs: 1_000 })
  throughput.push(await closedLoop(s.target, { connections: connections, durationMs, ...(s.pid === undefined ? {} : { pid: s.pid }) }))
}

const streamed = new Map<string, { firstTokenMs: number[]; totalMs: number[] }>()
log(`streamed: ${streams} calls per scenario, alternating`)
for (let i = 0; i < streams; i++) {
  for (const s of scenarios) {
    if (s.stream === undefined) continue
    const { firstTokenMs, totalMs } = await streamOnce(s.stream)
    const into = streamed.get(s.name) ?? { firstTokenMs: [], totalMs: [] }
    into.firstTokenMs.push(firstTokenMs)
    into.totalMs.push(totalMs)
    streamed.set(s.name, into)
  }
}
await Promise.all(peers.map((peer) => peer.stop()))
await stack.close()

const semantic = args['no-semantic-lookup'] ? undefined : await semanticLookupBench({ entries: entries, databaseUrl: stack.env.SUPERGATE_DATABASE_URL!, log })

const figures: BenchFigures = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'})`,
  node: process.version,
  pinned: pinning,
  projections: args.projections,
  calls: calls,
  rounds,
  seconds: durationMs / 1000,
  connections: connections,
  rates,
  scenarios: scenarios.map((s, i): ScenarioFigures => ({
    name: s.name,
    sequential: sequential[i]!,
    paced: Object.fromEntries(rates.map((rate) => [rate, pacedRuns.get(`${s.name}@${rate}`) ?? []])),
    throughput: throughput[i]!,
    measuresCpu: s.pid !== undefined,
    ...(streamed.has(s.name) ? { streamed: streamed.get(s.name)! } : {}),
  })),
  peerProblems,
  ...(semantic === undefined ? {} : { semanticLookup: semantic }),
}
const { markdown, summary } = benchReport(figures)
console.log(markdown)
mkdirSync('.bench', { recursive: true })
writeFileSync('.bench/latest.md', `${markdown}\n`)
writeFileSync('.bench/latest.json', `${JSON.stringify({ ...summary, semanticLookup: semantic ?? null }, null, 2)}\n`)
