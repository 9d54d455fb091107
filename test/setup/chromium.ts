import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Where Debian's chromium package puts the browser that the browser tests drive. */
export const CHROMIUM = '/usr/bin/chromium'

const repoRoot = new URL('../../', import.meta.url).pathname

/**
 * The browser tier's set-up: Debian's Chromium, installed by `infra/chromium/install.sh` when missing
 * (playwright-core downloads no browser of its own, and this network would refuse it).
 */
export default function setup(): void {
  if (existsSync(CHROMIUM)) return
  const started = Date.now()
  console.error('[browser] /usr/bin/chromium is missing: installing it with infra/chromium/install.sh')
  const result = spawnSync('bash', ['infra/chromium/install.sh'], { cwd: repoRoot, stdio: 'inherit' })
  if (result.status !== 0 || !existsSync(CHROMIUM)) throw new Error(`infra/chromium/install.sh failed (exit ${String(result.status)}): the browser tests need ${CHROMIUM}`)
  console.error(`[browser] chromium installed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}
