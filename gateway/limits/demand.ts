/**
 * What a call may consume, estimated before it is sent (issue 6): prompt tokens from the text it carries, at
 * about four characters a token, and its output cap. An estimate only: the token buckets are reconciled with
 * the provider's usage after the call, and a budget is charged the real cost.
 */

const CHARS_PER_TOKEN = 4
/** Per message: role and separators, as OpenAI's own counting adds. */
const TOKENS_PER_MESSAGE = 4

/** Characters of text in a value, skipping inline binary (data: URLs, base64 `data` fields). */
function textChars(value: unknown, depth = 0): number {
  if (typeof value === 'string') return value.startsWith('data:') ? 0 : value.length
  if (depth > 8 || value === null || typeof value !== 'object') return 0
  let chars = 0
  if (Array.isArray(value)) {
    for (const item of value) chars += textChars(item, depth + 1)
    return chars
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === 'data' || key === 'image_url' || key === 'input_audio') continue
    chars += textChars(item, depth + 1)
  }
  return chars
}

export interface PromptEstimate {
  /** About what the provider will count: for token-per-minute limits, reconciled after the call. */
  tokens: number
  /**
   * At least what any provider will count (no tokenizer makes a token of less than one character, and the
   * framing per message and per request is below the allowance): what a budget reserves.
   */
  maxTokens: number
}

/** Prompt tokens of messages (OpenAI or Anthropic shape), a system prompt, tool definitions or embedding input. */
export function estimatePrompt(parts: { messages?: unknown; system?: unknown; tools?: unknown; input?: unknown }): PromptEstimate {
  const messages = Array.isArray(parts.messages) ? parts.messages.length : 0
  const chars = textChars(parts.messages) + textChars(parts.system) + textChars(parts.tools) + textChars(parts.input)
  return { tokens: Math.ceil(chars / CHARS_PER_TOKEN) + messages * TOKENS_PER_MESSAGE, maxTokens: chars + messages * 8 + 16 }
}

/** About what the provider will count as prompt tokens. */
export function estimatePromptTokens(parts: { messages?: unknown; system?: unknown; tools?: unknown; input?: unknown }): number {
  return estimatePrompt(parts).tokens
}

/** The output cap a chat request sets (max_completion_tokens, then max_tokens), else the gateway's default. */
export function maxOutputTokens(body: { max_completion_tokens?: number | null; max_tokens?: number | null }, fallback: number): number {
  return body.max_completion_tokens ?? body.max_tokens ?? fallback
}
