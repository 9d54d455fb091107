import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pinned } from '../support/cpu-affinity.ts'
import { freePort } from '../support/gateway-process.ts'

/**
 * Peer gateways for the benchmark (issue 8), installed on first use into the tooling cache
 * (SUPERGATE_CACHE_DIR, as infra/ keeps Kafka's jars) from the registries this machine reaches, and started on
 * loopback in front of the same mock upstream as Supergate:
 *
 * - Portkey's open-source gateway, `@portkey-ai/gateway` from npm, on this bench's Node. Its 1.15.2 as npm
 *   resolves it today fails every streamed request (its hono dependencies drifted), so it runs with the versions
 *   of its own lockfile, hono 4.9.7 and @hono/node-server 1.13.5, through `overrides`.
 * - LiteLLM's proxy, `litellm[proxy]` from PyPI, in a virtualenv of its own, one worker.
 */

export const PORTKEY_VERSION = '1.15.2'
export const LITELLM_VERSION = '1.108.7'

const cacheDir = () => join(process.env.SUPERGATE_CACHE_DIR ?? join(homedir(), '.cache', 'supergate'), 'bench-peers')

export interface RunningPeer {
  name: string
  url: string
  pid: number
  /** What a client sends besides the body: the peer's auth and routing to the mock. */
  headers: Record<string, string>
  /** The model name the peer routes to the mock. */
  model: string
  stop(): Promise<void>
}

function installPortkey(): string {
  const dir = join(cacheDir(), `portkey-${PORTKEY_VERSION}`)
  const entry = join(dir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js')
  if (existsSync(entry)) return entry
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'bench-peer-portkey', private: true, dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION }, overrides: { hono: '4.9.7', '@hono/node-server': '1.13.5' } }),
  )
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] })
  return entry
}

function installLiteLlm(): string {
  const venv = join(cacheDir(), `litellm-${LITELLM_VERSION}`)
  const bin = join(venv, 'bin', 'litellm')
  if (existsSync(bin)) return bin
  execFileSync('python3', ['-m', 'venv', venv], { stdio: ['ignore', 'ignore', 'inherit'] })
  execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', `litellm[proxy]==${LITELLM_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'] })
  return bin
}

async function waitUntilUp(child: ChildProcess, url: string, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output().slice(-1500)}`)
    try {
      await fetch(url)
      return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`did not start within ${timeoutMs / 1000} s: ${output().slice(-1500)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

function spawnPeer(command: string, args: readonly string[], cpus: string | undefined, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const [cmd, argv] = pinned(command, args, cpus)
  const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  return { child, output: () => output }
}

const stopper = (child: ChildProcess) => () =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref()
  })

export async function startPortkey(mockUrl: string, cpus?: string): Promise<RunningPeer> {
  const entry = installPortkey()
  const port = await freePort()
  const { child, output } = spawnPeer(process.execPath, [entry, `--port=${port}`, '--headless'], cpus, { ...process.env, NODE_ENV: 'production' })
  const url = `http://127.0.0.1:${port}`
  await waitUntilUp(child, url, output, 30_000)
  return {
    name: `Portkey ${PORTKEY_VERSION}`,
    url,
    pid: child.pid!,
    headers: { authorization: 'Bearer upstream-bench-key', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mockUrl}/v1` },
    model: 'gpt-4o-mini',
    stop: stopper(child),
  }
}

export async function startLiteLlm(mockUrl: string, cpus?: string): Promise<RunningPeer> {
  const bin = installLiteLlm()
  const port = await freePort()
  const dir = join(cacheDir(), 'litellm-run')
  mkdirSync(dir, { recursive: true })
  const config = join(dir, `config-${port}.yaml`)
  writeFileSync(
    config,
    ['model_list:', '  - model_name: gpt-4o-mini', '    litellm_params:', '      model: openai/gpt-4o-mini', `      api_base: ${mockUrl}/v1`, '      api_key: upstream-bench-key', ''].join('\n'),
  )
  const masterKey = 'sk-bench-litellm-master-key-0123456789'
  const { child, output } = spawnPeer(bin, ['--config', config, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'], cpus, {
    ...process.env,
    LITELLM_MASTER_KEY: masterKey,
    // No fetch of the model price map from the internet, which this machine cannot reach.
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
    LITELLM_LOG: 'ERROR',
  })
  const url = `http://127.0.0.1:${port}`
  await waitUntilUp(child, `${url}/health/liveliness`, output, 180_000)
  return { name: `LiteLLM ${LITELLM_VERSION}`, url, pid: child.pid!, headers: { authorization: `Bearer ${masterKey}` }, model: 'gpt-4o-mini', stop: stopper(child) }
}
