import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pinned } from '../support/cpu-affinity.ts'

/**
 * The benchmark's upstream: OpenAI's chat completions answered from the provider's fixtures, prepared once, with no
 * validation and no disk reads per call (test/mocks/openai.ts checks what it receives as strictly as OpenAI does;
 * this one is only fast). A body asking for `"stream": true` gets the fixture's SSE frames, written at once.
 * It runs as a process of its own so that it can be pinned to a core away from the gateway under test.
 */

const fixtures = new URL('../../gateway/providers/openai/fixtures/', import.meta.url)
const completion = readFileSync(new URL('chat-completion.json', fixtures))
const stream = readFileSync(new URL('chat-stream.sse', fixtures))
const STREAM = /"stream"\s*:\s*true/

export interface RunningFastMock {
  url: string
  pid: number
  stop(): Promise<void>
}

function serve(): void {
  const server = createServer((request, response) => {
    const parts: Buffer[] = []
    request.on('data', (part: Buffer) => parts.push(part))
    request.on('end', () => {
      if (STREAM.test(Buffer.concat(parts).toString('utf8'))) {
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        response.end(stream)
      } else {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length })
        response.end(completion)
      }
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`))
}

/** Starts the mock as a child process, pinned to `cpus` when given. */
export function startFastMock(cpus?: string): Promise<RunningFastMock> {
  const [command, args] = pinned(process.execPath, [new URL(import.meta.url).pathname], cpus)
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bench mock exited with ${code}`)))
    child.stdout.once('data', (chunk: Buffer) => {
      const port = /listening (\d+)/.exec(chunk.toString())?.[1]
      if (port === undefined) return reject(new Error(`the bench mock said ${chunk.toString()}`))
      resolve({
        url: `http://127.0.0.1:${port}`,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            child.removeAllListeners('exit')
            child.once('exit', () => done())
            child.kill()
          }),
      })
    })
  })
}

if (import.meta.main) serve()
