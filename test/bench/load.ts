import { readdirSync, readFileSync } from 'node:fs'
import { Pool, request } from 'undici'

/**
 * Load against one endpoint, for the CPU a process spends per request and the throughput it reaches:
 * `connections` requests always in flight (closed loop) for `durationMs`. The process's CPU time is read from
 * /proc before and after, so what the load generator and the mock spend on the same machine is not counted.
 */

const TICKS_PER_SECOND = 100 // USER_HZ: Linux reports /proc/<pid>/stat times in 1/100 s on every platform it runs on.

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces): state is [0], ppid [1], utime [11], stime [12]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * User plus system CPU time of a process and every process below it so far, in milliseconds (Linux): a peer
 * may serve from worker processes. Children that already exited count through their parent's cutime/cstime.
 */
export function cpuMs(pid: number): number {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const ppid = Number(statFields(Number(entry))?.[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
  }
  let total = 0
  const visit = (p: number) => {
    const fields = statFields(p)
    if (fields === undefined) return
    total += ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND
    for (const child of children.get(p) ?? []) visit(child)
  }
  visit(pid)
  return total
}

/** Resident memory of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  return kib === undefined ? Number.NaN : Number(kib) / 1024
}

export interface LoadTarget {
  origin: string
  path: string
  headers: Record<string, string>
  /** The body of each request; a function makes one per request (a new prompt each call, say). */
  body: string | (() => string)
  /** Checks each answer; a failed check stops the run with its message. */
  check?: (status: number, headers: Record<string, string | string[] | undefined>) => string | undefined
}

export interface LoadResult {
  requests: number
  seconds: number
  requestsPerSecond: number
  /** CPU milliseconds the measured process spent per request; NaN without a pid. */
  cpuMsPerRequest: number
  /** The measured process's CPU use over the run: 1.0 is one core busy all the time. */
  cores: number
  rssMiB: number
  p50: number
  p99: number
}

export async function closedLoop(target: LoadTarget, options: { connections: number; durationMs: number; pid?: number }): Promise<LoadResult> {
  const pool = new Pool(target.origin, { connections: options.connections, pipelining: 1 })
  const latencies: number[] = []
  let failure: string | undefined
  const headers = { 'content-type': 'application/json', ...target.headers }
  const cpuBefore = options.pid === undefined ? 0 : cpuMs(options.pid)
  const started = performance.now()
  const deadline = started + options.durationMs
  const worker = async () => {
    while (failure === undefined && performance.now() < deadline) {
      const sent = performance.now()
      const body = typeof target.body === 'string' ? target.body : target.body()
      const response = await pool.request({ method: 'POST', path: target.path, headers, body })
      await response.body.text()
      latencies.push(performance.now() - sent)
      failure ??= response.statusCode !== 200 ? `${target.path} answered ${response.statusCode}` : target.check?.(response.statusCode, response.headers)
    }
  }
  await Promise.all(Array.from({ length: options.connections }, worker))
  const seconds = (performance.now() - started) / 1000
  const cpu = options.pid === undefined ? Number.NaN : cpuMs(options.pid) - cpuBefore
  await pool.close()
  if (failure !== undefined) throw new Error(failure)
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
  return {
    requests: latencies.length,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    cpuMsPerRequest: cpu / latencies.length,
    cores: cpu / 1000 / seconds,
    rssMiB: options.pid === undefined ? Number.NaN : rssMiB(options.pid),
    p50: at(0.5),
    p99: at(0.99),
  }
}

export interface PacedResult {
  rate: number
  /** Requests that completed with the expected answer, per second of the schedule. */
  achievedPerSecond: number
  sent: number
  failed: number
  /** Scheduled but not sent: `maxInFlight` requests were already waiting, so the target could not keep up. */
  shed: number
  /** Latency from each request's scheduled send time to its complete answer (ms). */
  p50: number
  p90: number
  p99: number
  max: number
  cpuMsPerRequest: number
  rssMiB: number
}

/**
 * Open-loop load at a fixed rate: request i is due at start + i / rate whatever happened to the ones before it,
 * and its latency counts from then, so a target that falls behind shows its queueing instead of slowing the
 * load down (no coordinated omission). Requests are sent on a pool with enough connections that the client
 * never queues them itself. Due requests go out each millisecond (the timer's resolution).
 */
export async function paced(target: LoadTarget, options: { rate: number; durationMs: number; pid?: number; maxInFlight?: number; timeoutMs?: number }): Promise<PacedResult> {
  const maxInFlight = options.maxInFlight ?? 1_000
  const pool = new Pool(target.origin, { connections: maxInFlight, pipelining: 1, headersTimeout: options.timeoutMs ?? 10_000, bodyTimeout: options.timeoutMs ?? 10_000 })
  const headers = { 'content-type': 'application/json', ...target.headers }
  const total = Math.floor((options.rate * options.durationMs) / 1000)
  const interval = 1000 / options.rate
  const latencies: number[] = []
  let failed = 0
  let shed = 0
  let inFlight = 0
  const pending: Promise<void>[] = []
  const cpuBefore = options.pid === undefined ? 0 : cpuMs(options.pid)
  const start = performance.now() + 20
  const send = async (due: number) => {
    inFlight++
    try {
      const body = typeof target.body === 'string' ? target.body : target.body()
      const response = await pool.request({ method: 'POST', path: target.path, headers, body })
      await response.body.text()
      if (response.statusCode === 200 && target.check?.(response.statusCode, response.headers) === undefined) latencies.push(performance.now() - due)
      else failed++
    } catch {
      failed++
    } finally {
      inFlight--
    }
  }
  let next = 0
  while (next < total) {
    const now = performance.now()
    while (next < total && start + next * interval <= now) {
      const due = start + next * interval
      if (inFlight >= maxInFlight) shed++
      else pending.push(send(due))
      next++
    }
    if (next < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + next * interval - performance.now())))
  }
  await Promise.all(pending)
  const cpu = options.pid === undefined ? Number.NaN : cpuMs(options.pid) - cpuBefore
  await pool.close()
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  return {
    rate: options.rate,
    achievedPerSecond: latencies.length / (options.durationMs / 1000),
    sent: total - shed,
    failed,
    shed,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: latencies.at(-1) ?? Number.NaN,
    cpuMsPerRequest: cpu / Math.max(1, latencies.length),
    rssMiB: options.pid === undefined ? Number.NaN : rssMiB(options.pid),
  }
}

/** One streamed call: milliseconds to the first content token (the first SSE chunk with delta text) and to the end. */
export async function streamOnce(target: LoadTarget): Promise<{ firstTokenMs: number; totalMs: number }> {
  const started = performance.now()
  const body = typeof target.body === 'string' ? target.body : target.body()
  const response = await request(`${target.origin}${target.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...target.headers }, body })
  if (response.statusCode !== 200) throw new Error(`${target.origin}${target.path} answered ${response.statusCode}: ${(await response.body.text()).slice(0, 300)}`)
  let firstTokenMs = Number.NaN
  let text = ''
  for await (const chunk of response.body) {
    if (Number.isNaN(firstTokenMs)) {
      text += (chunk as Buffer).toString('utf8')
      if (/"content"\s*:\s*"[^"]/.test(text)) firstTokenMs = performance.now() - started
    }
  }
  if (Number.isNaN(firstTokenMs)) throw new Error(`${target.origin}${target.path}: a stream without content`)
  return { firstTokenMs, totalMs: performance.now() - started }
}
