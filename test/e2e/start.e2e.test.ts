import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const repoRoot = new URL('../../', import.meta.url).pathname

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** `npm start` as a user runs it: no SUPERGATE_ configuration but a port and a data folder of the test's own. */
function npmStart(extraEnv: Record<string, string>): { child: ChildProcess; output: () => string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SUPERGATE_')))
  // npm itself may run on the machine's older Node; the script must still run on the pinned Node 24.
  env.PATH = (env.PATH ?? '').split(':').filter((dir) => !dir.includes('node_modules/.bin')).join(':')
  const child = spawn('npm', ['start'], { cwd: repoRoot, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return { child, output: () => output }
}

async function waitForHealth(port: number, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      if (response.ok) return Date.now() - started
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`/health did not answer within ${timeoutMs} ms`)
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('npm start with no configuration', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'supergate-e2e-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('serves /health within 15 s on embedded adapters, on Node 24, and stops cleanly on SIGTERM', async () => {
    const port = await freePort()
    const { child, output } = npmStart({ SUPERGATE_PORT: String(port), SUPERGATE_DATA_DIR: dataDir })
    const exited = exitOf(child)
    try {
      const tookMs = await waitForHealth(port, 15_000)
      console.error(`[e2e] cold npm start served /health after ${tookMs} ms`)
      const ready = await fetch(`http://127.0.0.1:${port}/ready`)
      expect(ready.status).toBe(200)
      const body = (await ready.json()) as { dependencies: Record<string, { adapter: string }> }
      expect(Object.values(body.dependencies).map((d) => d.adapter)).toEqual(['pglite', 'pglite', 'in-process', 'memory', 'chdb'])
      expect(output()).toMatch(/"node":"v24\./)
      // The generated admin token is readable by its owner only and never printed.
      expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600)
      expect(output()).not.toMatch(/sg-admin-/)
    } finally {
      // npm forwards SIGTERM to the gateway process it started.
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    expect(output()).toContain('shut down cleanly')
  })

  it('starts again on the same data folder, keeping what it stored', async () => {
    const port = await freePort()
    const { child, output } = npmStart({ SUPERGATE_PORT: String(port), SUPERGATE_DATA_DIR: dataDir })
    const exited = exitOf(child)
    try {
      await waitForHealth(port, 15_000)
      expect(output()).not.toContain('applied SQL migrations')
      expect(output()).not.toContain('generated a bootstrap admin token')
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  })

  it('refuses an invalid configuration with one message naming every bad variable', async () => {
    const { child, output } = npmStart({ SUPERGATE_PORT: 'eighty', SUPERGATE_REDIS_URL: 'localhost:6379', SUPERGATE_DATA_DIR: dataDir })
    expect(await exitOf(child)).not.toBe(0)
    expect(output()).toContain('Invalid configuration (2 problems)')
    expect(output()).toContain('SUPERGATE_PORT: must be a whole number')
    expect(output()).toContain('SUPERGATE_REDIS_URL: must be a redis:// or rediss:// URL')
  })
})
