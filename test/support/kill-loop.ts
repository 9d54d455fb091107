import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

/** Starts `script` (a reader of the log) with `env`; resolves once it prints `started`. */
export function startChild(script: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)))
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('started')) resolve(child)
    })
  })
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
}

export interface KillLoop {
  rounds: number
  /** Appends one round of messages to the log. */
  publishRound(round: number): Promise<void>
  start(): Promise<ChildProcess>
  /** How far the child has got: the sum of its stored offsets. */
  progress(): Promise<number>
  /** Messages appended so far. */
  total(): number
  /** How long a child may take to make progress before it is killed anyway, and the most it lives after. */
  progressTimeoutMs: number
  jitterMs: number
}

/**
 * Each round: appends, then twice starts a child and SIGKILLs it at a random moment once it has made some
 * progress and before it is done. Then a last child runs to the end and stops with SIGTERM. Returns how many
 * kills landed mid-stream and where the progress ended (which the caller compares with `total()`).
 */
export async function killRepeatedly(loop: KillLoop): Promise<{ kills: number; final: number }> {
  let kills = 0
  for (let round = 0; round < loop.rounds; round++) {
    await loop.publishRound(round)
    for (let attempt = 0; attempt < 2; attempt++) {
      const child = await loop.start()
      const from = await loop.progress()
      const deadline = Date.now() + loop.progressTimeoutMs
      while ((await loop.progress()) === from && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * loop.jitterMs)))
      child.kill('SIGKILL')
      await stopped(child)
      if ((await loop.progress()) < loop.total()) kills++
    }
  }
  const last = await loop.start()
  const deadline = Date.now() + 60_000
  while ((await loop.progress()) < loop.total() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  last.kill('SIGTERM')
  await stopped(last)
  return { kills, final: await loop.progress() }
}
