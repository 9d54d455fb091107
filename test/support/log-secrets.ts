/** The settings whose values are secrets: they must never be printed by the process they configure. */
const SECRET_SETTINGS = /^SUPERGATE_(ADMIN_TOKEN|MASTER_KEY|[A-Z]+_API_KEY|API_KEYS)$/

/** What a secret looks like in a log line, whatever its value: a minted API key, a bearer token, an unredacted apiKey field. */
const SECRET_SHAPES: [string, RegExp][] = [
  ['an API key minted by the gateway', /sg_[A-Za-z0-9]{12}_[A-Za-z0-9]{43}/],
  ['a bearer token', /Bearer [A-Za-z0-9._~+/-]{8,}/],
  ['an apiKey field', /"api_?[kK]ey":"(?!\[redacted\])[^"]+"/],
]

/**
 * What of a secret a process's output holds: the kinds found, never the secrets themselves (the report ends
 * up in CI's log). `env` is what the process was started with.
 */
export function secretsIn(output: string, env: Record<string, string>): string[] {
  const found: string[] = []
  for (const [name, value] of Object.entries(env)) {
    // A URL setting printed with its credentials (postgres://user:password@…, https://user:token@collector), as a
    // driver's error message may. The password alone is not looked for: test passwords are words logs hold anyway.
    if (name.endsWith('_URL') || name.endsWith('_ENDPOINT')) {
      const password = URL.canParse(value) ? new URL(value).password : ''
      if (password !== '' && output.includes(`:${password}@`)) found.push(`the password in ${name}`)
      continue
    }
    if (!SECRET_SETTINGS.test(name)) continue
    for (const part of secretValues(value)) {
      if (part.length >= 8 && output.includes(part)) found.push(`the value of ${name}`)
    }
  }
  for (const [kind, shape] of SECRET_SHAPES) if (shape.test(output)) found.push(kind)
  return [...new Set(found)]
}

/** SUPERGATE_API_KEYS may be a list or JSON entries with a `key`; a master key, versions like v1:<base64>. */
function secretValues(value: string): string[] {
  if (value.trim().startsWith('[')) return (JSON.parse(value) as { key: string }[]).map((entry) => entry.key)
  return value.split(',').map((part) => part.trim().replace(/^v\d+:/, ''))
}
