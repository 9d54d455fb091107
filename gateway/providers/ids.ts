import { randomBytes } from 'node:crypto'

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Random letters and digits: tool-call ids for providers that send none (Gemini), or need a format (Mistral: 9). */
export function alphanumericId(length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[bytes[i]! % ALPHANUMERIC.length]
  return out
}

export function completionId(requestId: string): string {
  return `chatcmpl-${requestId.replace(/[^A-Za-z0-9]/g, '')}`
}

/** A rough token count (about four characters a token), only where a provider reports no usage. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4))
}
