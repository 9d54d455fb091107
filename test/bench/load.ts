import { readFileSync } from 'node:fs'
import { Pool } from 'undici'

/**
 * Load against one endpoint, for the CPU a process spends per request and the throughput it reaches:
 * `connections` requests always in flight (closed loop) for `durationMs`. The process's CPU time is read from
 * /proc before and after, so what the load generator and the mock spend on the same machine is not counted.
 */

const TICKS_PER_SECOND = 100 // USER_HZ: Linux reports /proc/<pid>/stat times in 1/100 s on every platform it runs on.

/** User plus system CPU time of a process so far, in milliseconds (Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
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
