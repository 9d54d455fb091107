import { CliUsageError, parseCommand, usage } from './cli-commands.ts'

/**
 * The admin CLI: `npm run -s admin -- <command> [--flags]`. It calls the admin API over HTTP, like any
 * other client, and prints the answer as JSON (JSONL for `audit export`). Exit codes: 0 done, 1 the API
 * refused or could not be reached, 2 a usage mistake.
 */

export interface CliIo {
  env: Record<string, string | undefined>
  fetch: typeof fetch
  stdout: (text: string) => void
  stderr: (text: string) => void
}

const USER_AGENT = 'supergate-admin-cli/1'

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(usage())
    return argv.length === 0 ? 2 : 0
  }
  let request
  try {
    request = parseCommand(argv, io.env)
  } catch (error) {
    if (!(error instanceof CliUsageError)) throw error
    io.stderr(`${error.message}\n`)
    return 2
  }
  const token = io.env.SUPERGATE_ADMIN_TOKEN || io.env.SUPERGATE_API_KEY
  if (token === undefined || token === '') {
    io.stderr('Set SUPERGATE_ADMIN_TOKEN (the bootstrap admin token) or SUPERGATE_API_KEY (an API key with an admin role)\n')
    return 2
  }
  const base = (io.env.SUPERGATE_ADMIN_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '')
  const url = `${base}/admin/v1${request.path}`
  let response: Response
  try {
    response = await io.fetch(url, {
      method: request.method,
      headers: {
        authorization: `Bearer ${token}`,
        'user-agent': USER_AGENT,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(request.reason === undefined ? {} : { 'x-supergate-reason': request.reason }),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    })
  } catch (error) {
    // The URL, never the token.
    io.stderr(`Could not reach ${base}: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
  const text = await response.text()
  if (!response.ok) {
    io.stderr(text.endsWith('\n') ? text : `${text}\n`)
    return 1
  }
  if (response.status === 204 || text === '') io.stdout(`${JSON.stringify({ ok: true })}\n`)
  else if ((response.headers.get('content-type') ?? '').startsWith('application/json')) io.stdout(`${JSON.stringify(JSON.parse(text), null, 2)}\n`)
  else io.stdout(text)
  return 0
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    fetch: globalThis.fetch,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  })
}
