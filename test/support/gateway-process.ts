import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { Role } from '../../gateway/roles.ts'
import { pinned } from './cpu-affinity.ts'
import { secretsIn } from './log-secrets.ts'

const repoRoot = new URL('../../', import.meta.url).pathname

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export interface RunningGateway {
  url: string
  /** The gateway process's id, for reading its CPU time and memory. */
  pid: number
  output(): string
  stop(): Promise<number | null>
}

/**
 * The gateway as its own process (`node gateway/main.ts`, on this test run's Node 24), with only the
 * SUPERGATE_ settings given: embedded in memory unless service URLs are passed; on the given cores only when
 * `cpus` is set (`taskset -c`); as one role of a split deployment when `role` is set (gateway/roles.ts).
 */
export async function startGateway(env: Record<string, string>, options: { cpus?: string; role?: Role } = {}): Promise<RunningGateway> {
  const port = await freePort()
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SUPERGATE_')))
  // GATEWAY_NODE_ARGS adds Node flags to the gateway process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a bench.
  const nodeArgs = (process.env.GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const [command, args] = pinned(process.execPath, [...nodeArgs, 'gateway/main.ts', ...(options.role === undefined ? [] : [options.role])], options.cpus)
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...inherited, SUPERGATE_PORT: String(port), SUPERGATE_DATA_DIR: ':memory:', SUPERGATE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`)
    try {
      if ((await fetch(`${url}/health`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`gateway did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    pid: child.pid!,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM')
      const code = await exited
      // Every gateway a test starts is checked: no secret it was given or handed out may appear in its logs.
      const leaks = secretsIn(output, { ...env })
      if (leaks.length > 0) throw new Error(`The gateway's logs hold ${leaks.join(', ')}`)
      const lines = output.split('\n').length - 1
      if (process.env.SUPERGATE_TEST_LOG_SCAN !== 'quiet') console.error(`[logs] gateway ${options.role ?? 'all'} (pid ${child.pid}): ${lines} log lines scanned, no secret`)
      return code
    },
  }
}
