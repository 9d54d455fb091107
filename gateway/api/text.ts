import { GatewayError } from '../errors.ts'

/**
 * Whether text can be stored everywhere the gateway writes what a client sent: PostgreSQL refuses the NUL
 * character (in text and jsonb), and jsonb and ClickHouse's JSON input refuse lone surrogates. Such text
 * would fail the write (a 500), or a background writer (the analytics sink) retrying it forever.
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000')
}

export function unstorableText(param: string | null): GatewayError {
  const where = param === null ? '' : `'${param}': `
  return new GatewayError('invalid_request', `Invalid value for ${where}text must be well-formed Unicode without NUL characters`, param)
}

/**
 * Refuses a parsed JSON value (a body, a query, path parameters) holding unstorable text in any string or
 * key, naming its path. Iterative: the JSON parser bounds the depth, not the call stack.
 */
export function refuseUnstorableText(value: unknown): void {
  const pending: { value: unknown; path: string[] }[] = [{ value, path: [] }]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: here, path } = next
    if (typeof here === 'string') {
      if (!isStorableText(here)) throw unstorableText(path.length === 0 ? null : path.join('.'))
    } else if (here !== null && typeof here === 'object') {
      for (const [key, child] of Object.entries(here)) {
        if (!isStorableText(key)) throw unstorableText([...path, key].join('.'))
        pending.push({ value: child, path: [...path, key] })
      }
    }
  }
}
