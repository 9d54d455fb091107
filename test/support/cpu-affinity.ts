import { existsSync } from 'node:fs'

/** A command prefixed with `taskset -c CPUS` (Linux), so that it runs on those cores only; as given without CPUs or taskset. */
export function pinned(command: string, args: readonly string[], cpus: string | undefined): [string, string[]] {
  if (cpus === undefined || !existsSync('/usr/bin/taskset')) return [command, [...args]]
  return ['/usr/bin/taskset', ['-c', cpus, command, ...args]]
}
