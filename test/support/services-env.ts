import { execFileSync } from 'node:child_process'

const repoRoot = new URL('../../', import.meta.url).pathname

/**
 * `infra/services.sh up` for the named services (all when none), then the SUPERGATE_* settings that
 * `infra/services.sh env` prints for them.
 */
export function nativeServicesEnv(services: readonly string[] = [], progress: 'inherit' | 'ignore' = 'ignore'): Record<string, string> {
  execFileSync('bash', ['infra/services.sh', 'up', ...services], { cwd: repoRoot, stdio: ['ignore', progress, 'inherit'] })
  const lines = execFileSync('bash', ['infra/services.sh', 'env', ...services], { cwd: repoRoot, encoding: 'utf8' })
  const env: Record<string, string> = {}
  for (const match of lines.matchAll(/^export (SUPERGATE_[A-Z_]+)=(.*)$/gm)) env[match[1]!] = match[2]!.trim()
  return env
}
