import { createHash } from 'node:crypto'
import type { AssistantMessage, ChatMessage, UserContentPart } from '../../api/chat-completions.ts'
import { unsupportedParameter } from '../errors.ts'

const MISTRAL_TOOL_CALL_ID = /^[A-Za-z0-9]{9}$/
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/**
 * Mistral rejects any tool-call id that is not exactly 9 letters or digits, so ids minted elsewhere
 * (OpenAI's `call_…`, Anthropic's `toolu_…`) are replaced by 9 characters of their SHA-256. The mapping
 * is a pure function of the id: the assistant's tool call and the tool message answering it get the same
 * new id, in this request and every later one, with no state kept between requests. Mistral's own ids
 * pass unchanged. Two different ids meeting in 62^9 values is not a practical concern.
 */
export function mistralToolCallId(id: string): string {
  if (MISTRAL_TOOL_CALL_ID.test(id)) return id
  const digest = createHash('sha256').update(id).digest()
  let out = ''
  for (let i = 0; i < 9; i++) out += ALPHANUMERIC[digest[i]! % ALPHANUMERIC.length]
  return out
}

type MistralPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: string | { url: string; detail: string } }
  | { type: 'input_audio'; input_audio: string }
  | { type: 'document_url'; document_url: string; document_name?: string }

export type MistralMessage =
  | { role: 'system'; content: string | { type: 'text'; text: string }[] }
  | { role: 'user'; content: string | MistralPart[] }
  | { role: 'assistant'; content: string; tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[] }
  | { role: 'tool'; content: string | { type: 'text'; text: string }[]; tool_call_id: string }

function toMistralPart(part: UserContentPart, at: string): MistralPart {
  switch (part.type) {
    case 'text':
      return part
    case 'image_url': {
      // Mistral takes the URL itself (http(s) or data:) or `{url, detail}`.
      const { url, detail } = part.image_url
      return { type: 'image_url', image_url: detail === undefined ? url : { url, detail } }
    }
    case 'input_audio':
      // Voxtral reads base64 audio and infers the format from the bytes.
      return { type: 'input_audio', input_audio: part.input_audio.data }
    case 'file': {
      const { file_data, file_id, filename } = part.file
      if (file_id !== undefined || file_data === undefined || !file_data.startsWith('data:application/pdf')) {
        throw unsupportedParameter('mistral', at, 'Mistral reads documents only as PDF data: URLs (file_data); OpenAI file ids mean nothing to it')
      }
      return { type: 'document_url', document_url: file_data, ...(filename === undefined ? {} : { document_name: filename }) }
    }
  }
}

/** Assistant history as text: Mistral has no refusal field, and a refusal is what the assistant said. */
function assistantText(message: AssistantMessage): string {
  const content = message.content
  const text =
    content === null || content === undefined
      ? ''
      : typeof content === 'string'
        ? content
        : content.map((p) => (p.type === 'text' ? p.text : p.refusal)).join('')
  return text === '' ? (message.refusal ?? '') : text
}

function toMistralMessage(message: ChatMessage, i: number): MistralMessage {
  const at = `messages[${i}]`
  if ('name' in message && message.name !== undefined) {
    throw unsupportedParameter('mistral', `${at}.name`, 'Mistral messages carry no participant name')
  }
  switch (message.role) {
    case 'system':
    case 'developer':
      // Mistral has no developer role; OpenAI itself treats developer as the newer name of system.
      return { role: 'system', content: message.content }
    case 'user':
      return {
        role: 'user',
        content: typeof message.content === 'string' ? message.content : message.content.map((p, j) => toMistralPart(p, `${at}.content[${j}]`)),
      }
    case 'assistant': {
      const calls = message.tool_calls ?? []
      return {
        role: 'assistant',
        content: assistantText(message),
        ...(calls.length === 0
          ? {}
          : {
              tool_calls: calls.map((c) => ({
                id: mistralToolCallId(c.id),
                type: 'function' as const,
                function: { name: c.function.name, arguments: c.function.arguments },
              })),
            }),
      }
    }
    case 'tool':
      return { role: 'tool', content: message.content, tool_call_id: mistralToolCallId(message.tool_call_id) }
  }
}

/**
 * Mistral serves only a conversation that ends with a user or tool message. It would take a trailing
 * assistant message as a prefix to continue (`prefix: true`) and echo it in the answer, which is not what
 * the same request means to OpenAI, so it is refused rather than reinterpreted.
 */
export function toMistralMessages(messages: readonly ChatMessage[]): MistralMessage[] {
  const last = messages.at(-1)
  if (last !== undefined && last.role !== 'user' && last.role !== 'tool') {
    throw unsupportedParameter(
      'mistral',
      'messages',
      `the last message must have role 'user' or 'tool', not '${last.role}' (Mistral would continue a trailing assistant message as a prefix)`,
    )
  }
  return messages.map(toMistralMessage)
}

