import { textOf } from '../../api/chat-completions.ts'
import type { AssistantMessage, ChatMessage, UserContentPart } from '../../api/chat-completions.ts'
import { GatewayError } from '../../errors.ts'
import { unsupportedParameter } from '../errors.ts'
import { usesThoughtSignatures } from './api.ts'
import type { GeminiContent, GeminiPart, GeminiRole } from './wire.ts'

/**
 * Canonical messages → Gemini `systemInstruction` + `contents`. Gemini knows two roles only, `user` and
 * `model`: system and developer messages become the system instruction (in order, wherever they stood),
 * tool results become `functionResponse` parts of a user turn, and consecutive turns of one role merge.
 */

export interface TranslatedMessages {
  systemInstruction?: { parts: { text: string }[] }
  contents: GeminiContent[]
  /** The `detail` the image parts asked for, if any did (Gemini has one media resolution per request). */
  imageDetail?: 'low' | 'high'
}

/**
 * Gemini 3 requires the thought signature it returned with a function call back on that call. OpenAI's
 * message shape has nowhere to keep it, so replayed calls carry the validator-skip value the thought
 * signatures guide documents for history that did not come from the model as it is.
 */
const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator'

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
}

function parseDataUrl(url: string): { mimeType: string; data: string } | undefined {
  const match = /^data:([^;,]+)((?:;[^;,]*)*),(.*)$/s.exec(url)
  if (match === null) return undefined
  const isBase64 = match[2]!.split(';').includes('base64')
  const data = isBase64 ? match[3]! : Buffer.from(decodeURIComponent(match[3]!), 'utf8').toString('base64')
  return { mimeType: match[1]!.toLowerCase(), data }
}

function imagePart(url: string, at: string): GeminiPart {
  if (url.startsWith('data:')) {
    const blob = parseDataUrl(url)
    if (blob === undefined) throw unsupportedParameter('gemini', at, 'the image data: URL is malformed')
    return { inlineData: blob }
  }
  if (url.startsWith('https://')) {
    // Gemini fetches public and signed https URLs itself (fileData). Its MIME type is optional; give it
    // when the path's extension says it.
    const extension = /\.([a-z0-9]+)$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase()
    const mimeType = extension === undefined ? undefined : IMAGE_TYPES[extension]
    return { fileData: { ...(mimeType === undefined ? {} : { mimeType }), fileUri: url } }
  }
  throw unsupportedParameter('gemini', at, 'Gemini fetches image URLs over https only; send an https URL or a data: URL')
}

function userPart(part: UserContentPart, at: string): GeminiPart | undefined {
  switch (part.type) {
    case 'text':
      return part.text === '' ? undefined : { text: part.text }
    case 'image_url':
      return imagePart(part.image_url.url, at)
    case 'input_audio':
      return { inlineData: { mimeType: part.input_audio.format === 'wav' ? 'audio/wav' : 'audio/mp3', data: part.input_audio.data } }
    case 'file': {
      if (part.file.file_id !== undefined) throw unsupportedParameter('gemini', at, 'file_id refers to OpenAI file storage; send the file as file_data (a data: URL)')
      const blob = part.file.file_data === undefined ? undefined : parseDataUrl(part.file.file_data)
      if (blob === undefined) throw unsupportedParameter('gemini', at, 'file_data must be a data: URL with the file\'s MIME type')
      return { inlineData: blob }
    }
  }
}

/** Gemini wants a JSON object; a non-object JSON value or plain text goes under `output`, the documented key. */
export function toolResponse(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
    return { output: value }
  } catch {
    return { output: text }
  }
}

function functionCallParts(message: AssistantMessage, index: number, model: string): GeminiPart[] {
  return (message.tool_calls ?? []).map((call, j) => {
    let args: unknown
    try {
      args = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments)
    } catch {
      args = undefined
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      throw new GatewayError('invalid_request', 'Tool call arguments must be a JSON object', `messages[${index}].tool_calls[${j}].function.arguments`)
    }
    const part: GeminiPart = { functionCall: { id: call.id, name: call.function.name, args: args as Record<string, unknown> } }
    // Of parallel calls only the first carries a signature, as in the model's own answers.
    if (j === 0 && usesThoughtSignatures(model)) part.thoughtSignature = SKIP_THOUGHT_SIGNATURE
    return part
  })
}

function assistantText(message: AssistantMessage): string {
  const content = message.content
  if (Array.isArray(content)) return content.map((p) => (p.type === 'text' ? p.text : p.refusal)).join('')
  return content ?? message.refusal ?? ''
}

export function translateMessages(messages: readonly ChatMessage[], model: string): TranslatedMessages {
  const system: { text: string }[] = []
  const contents: GeminiContent[] = []
  const toolNames = new Map<string, string>()
  const details = new Set<'low' | 'high'>()
  const push = (role: GeminiRole, parts: GeminiPart[]) => {
    if (parts.length === 0) return
    const last = contents.at(-1)
    if (last?.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }

  for (const [i, message] of messages.entries()) {
    if ('name' in message && message.name !== undefined) {
      throw unsupportedParameter('gemini', `messages[${i}].name`, 'Gemini has no per-message participant names')
    }
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content)
        if (text !== '') system.push({ text })
        break
      }
      case 'user': {
        if (typeof message.content === 'string') {
          push('user', message.content === '' ? [] : [{ text: message.content }])
          break
        }
        const parts: GeminiPart[] = []
        for (const [j, part] of message.content.entries()) {
          const translated = userPart(part, `messages[${i}].content[${j}]`)
          if (translated !== undefined) parts.push(translated)
          if (part.type === 'image_url' && part.image_url.detail !== undefined && part.image_url.detail !== 'auto') details.add(part.image_url.detail)
        }
        push('user', parts)
        break
      }
      case 'assistant': {
        for (const call of message.tool_calls ?? []) toolNames.set(call.id, call.function.name)
        const text = assistantText(message)
        push('model', [...(text === '' ? [] : [{ text }]), ...functionCallParts(message, i, model)])
        break
      }
      case 'tool': {
        const name = toolNames.get(message.tool_call_id)
        if (name === undefined) {
          throw new GatewayError('invalid_request', `No earlier assistant message has a tool call with id '${message.tool_call_id}'`, `messages[${i}].tool_call_id`)
        }
        push('user', [{ functionResponse: { id: message.tool_call_id, name, response: toolResponse(textOf(message.content)) } }])
        break
      }
    }
  }

  if (contents.length === 0) throw unsupportedParameter('gemini', 'messages', 'Gemini needs at least one user or assistant message besides system messages')
  if (details.size > 1) throw unsupportedParameter('gemini', 'messages', 'Gemini takes one media resolution per request; images ask for both low and high detail')
  const [imageDetail] = details
  return {
    ...(system.length === 0 ? {} : { systemInstruction: { parts: system } }),
    contents,
    ...(imageDetail === undefined ? {} : { imageDetail }),
  }
}
