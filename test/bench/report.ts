import type { LoadResult, PacedResult } from './load.ts'
import { semanticLookupReport } from './semantic-lookup.ts'
import type { SemanticLookupFigures } from './semantic-lookup.ts'

/** What `npm run bench` measured (./run.ts), and its markdown report. */

export interface ScenarioFigures {
  name: string
  /** Sequential latencies, ms. */
  sequential: number[]
  /** By rate: one result per round. */
  paced: Record<number, PacedResult[]>
  throughput: LoadResult
  /** Whether the target's CPU was read (not for the mock alone). */
  measuresCpu: boolean
  streamed?: { firstTokenMs: number[]; totalMs: number[] }
}

export interface BenchFigures {
  date: string
  machine: string
  node: string
  pinned: boolean
  projections: string
  calls: number
  rounds: number
  seconds: number
  connections: number
  rates: number[]
  scenarios: ScenarioFigures[]
  peerProblems: { name: string; problem: string }[]
  semanticLookup?: SemanticLookupFigures
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const median = (values: readonly number[]) => quantile(values, 0.5)
const ms = (v: number) => (Number.isNaN(v) ? '–' : v.toFixed(2))
const signed = (v: number) => (Number.isNaN(v) ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`)
const whole = (v: number) => (Number.isNaN(v) ? '–' : Math.round(v).toLocaleString('en-US'))
const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
const header = (names: readonly string[]) => [row(names), row(names.map((_, i) => (i === 0 ? '---' : '---:')))]

/** The median over the rounds of one figure of a paced run; NaN when the scenario was not paced at that rate. */
function pacedMedian(s: ScenarioFigures, rate: number, pick: (r: PacedResult) => number): number {
  return median((s.paced[rate] ?? []).map(pick))
}

export function benchReport(f: BenchFigures): { markdown: string; summary: Record<string, unknown> } {
  const direct = f.scenarios[0]!
  const directSeqP50 = quantile(direct.sequential, 0.5)
  const lines: string[] = [
    `## Supergate and peers, ${f.date.slice(0, 10)}: ${f.machine}, Node ${f.node}`,
    '',
    `Real PostgreSQL, Redis and Kafka (infra/services.sh); a fast OpenAI-format mock upstream; projections in another process (${f.projections === 'on' ? 'no: in the gateway' : 'SUPERGATE_PROJECTIONS=off'}); ${f.pinned ? 'the gateway and each peer pinned to core 1, the mock and the load generator to core 0' : 'no CPU pinning'}. Latencies in ms. CPU per request is the target process's own (its children included), from /proc; on the direct row it is the mock's, what merely serving HTTP costs on this machine at that rate.`,
    '',
    `### Latency, ${f.calls} sequential calls per scenario, alternating`,
    '',
    ...header(['scenario', 'p50', 'p90', 'p99', 'p50 over direct', 'p99 over direct']),
    ...f.scenarios.map((s) =>
      row([s.name, ms(quantile(s.sequential, 0.5)), ms(quantile(s.sequential, 0.9)), ms(quantile(s.sequential, 0.99)), s === direct ? '' : signed(quantile(s.sequential, 0.5) - directSeqP50), s === direct ? '' : signed(quantile(s.sequential, 0.99) - quantile(direct.sequential, 0.99))]),
    ),
  ]
  for (const rate of f.rates) {
    const directP50 = pacedMedian(direct, rate, (r) => r.p50)
    const directP99 = pacedMedian(direct, rate, (r) => r.p99)
    lines.push(
      '',
      `### Paced at ${rate.toLocaleString('en-US')} req/s, open loop, ${f.seconds} s per run; medians of ${f.rounds} rounds`,
      '',
      ...header(['scenario', 'served req/s', 'failed or shed', 'p50', 'p90', 'p99', 'p50 over direct', 'p99 over direct', 'CPU ms/req', 'RSS MiB']),
      ...f.scenarios
        .filter((s) => (s.paced[rate] ?? []).length > 0)
        .map((s) =>
          row([
            s.name,
            whole(pacedMedian(s, rate, (r) => r.achievedPerSecond)),
            whole(pacedMedian(s, rate, (r) => r.failed + r.shed)),
            ms(pacedMedian(s, rate, (r) => r.p50)),
            ms(pacedMedian(s, rate, (r) => r.p90)),
            ms(pacedMedian(s, rate, (r) => r.p99)),
            s === direct ? '' : signed(pacedMedian(s, rate, (r) => r.p50) - directP50),
            s === direct ? '' : signed(pacedMedian(s, rate, (r) => r.p99) - directP99),
            s.measuresCpu ? ms(pacedMedian(s, rate, (r) => r.cpuMsPerRequest)) : '',
            s.measuresCpu ? whole(pacedMedian(s, rate, (r) => r.rssMiB)) : '',
          ]),
        ),
    )
  }
  lines.push(
    '',
    `### Throughput: ${f.connections} requests in flight for ${f.seconds} s`,
    '',
    ...header(['scenario', 'req/s', 'p50', 'p99', 'CPU ms/req', 'cores used', 'RSS MiB']),
    ...f.scenarios.map((s) =>
      row([s.name, whole(s.throughput.requestsPerSecond), ms(s.throughput.p50), ms(s.throughput.p99), s.measuresCpu ? ms(s.throughput.cpuMsPerRequest) : '', s.measuresCpu ? s.throughput.cores.toFixed(2) : '', s.measuresCpu ? whole(s.throughput.rssMiB) : '']),
    ),
  )
  const streams = f.scenarios.filter((s) => s.streamed !== undefined)
  const directFirst = quantile(direct.streamed?.firstTokenMs ?? [], 0.5)
  const directFirstP99 = quantile(direct.streamed?.firstTokenMs ?? [], 0.99)
  lines.push(
    '',
    `### Streamed, ${streams[0]?.streamed?.firstTokenMs.length ?? 0} sequential calls per scenario, alternating`,
    '',
    ...header(['scenario', 'first token p50', 'first token p99', 'first token p99 over direct', 'whole stream p50']),
    ...streams.map((s) =>
      row([
        s.name,
        ms(quantile(s.streamed!.firstTokenMs, 0.5)),
        ms(quantile(s.streamed!.firstTokenMs, 0.99)),
        s === direct ? '' : signed(quantile(s.streamed!.firstTokenMs, 0.99) - directFirstP99),
        ms(quantile(s.streamed!.totalMs, 0.5)),
      ]),
    ),
    '',
    `First token over direct at p50: ${streams.filter((s) => s !== direct).map((s) => `${s.name} ${signed(quantile(s.streamed!.firstTokenMs, 0.5) - directFirst)}`).join(', ')}.`,
  )
  for (const p of f.peerProblems) lines.push('', `${p.name} could not be run on this machine: ${p.problem}`)
  lines.push(
    '',
    "Targets (issue 8): with the full pipeline, at most 0.2 ms of CPU per request, at least 5,000 req/s on one core, at most +0.3 ms p50 and +1.5 ms p99 at 500 req/s, at most +1 ms p99 to the first streamed chunk. Portkey's figures quoted there for a machine of this kind: 0.63 ms CPU per request, about 1,600 req/s per core, +0.7 ms p50 and +18 ms p99 at 500 req/s.",
  )
  if (f.semanticLookup !== undefined) lines.push('', '### Semantic cache lookup', '', '```', ...semanticLookupReport(f.semanticLookup), '```')
  const summary = {
    ...f,
    scenarios: f.scenarios.map((s) => ({
      name: s.name,
      sequential: { p50: quantile(s.sequential, 0.5), p90: quantile(s.sequential, 0.9), p99: quantile(s.sequential, 0.99) },
      paced: s.paced,
      throughput: s.throughput,
      ...(s.streamed === undefined ? {} : { streamed: { firstTokenP50: quantile(s.streamed.firstTokenMs, 0.5), firstTokenP99: quantile(s.streamed.firstTokenMs, 0.99), totalP50: quantile(s.streamed.totalMs, 0.5) } }),
    })),
  }
  return { markdown: lines.join('\n'), summary }
}
