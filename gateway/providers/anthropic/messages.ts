import type { AssistantMessage, ChatMessage, UserContentPart } from '../../api/chat-completions.ts'
import { GatewayError } from '../../errors.ts'
import { unsupportedParameter } from '../errors.ts'
import type { ImageBlock, ImageMediaType, MessageParam, RequestBlock, TextBlock, ToolUseBlock } from './wire.ts'

/**
 * Canonical messages → Anthropic's `system` + `messages`. System and developer messages, wherever they
 * stand, become the top-level `system` blocks in their order (Anthropic has no developer role, and only
 * some models accept a system turn mid-conversation). Tool results become `tool_result` blocks of a user
 * turn. Anthropic wants user and assistant turns to alternate, starting with a user turn, so consecutive
 * turns of one role are merged.
 */
export interface AnthropicConversation {
  system: TextBlock[]
  messages: MessageParam[]
}

const IMAGE_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] satisfies ImageMediaType[]
const DATA_URL = /^data:([^;,]+);base64,(.+)$/s

function refuseName(index: number, name: string | undefined): void {
  if (name !== undefined) {
    throw unsupportedParameter('anthropic', `messages[${index}].name`, 'Anthropic messages carry no participant name')
  }
}

function textBlocks(content: string | readonly { type: string; text?: string; refusal?: string }[]): TextBlock[] {
  const parts = typeof content === 'string' ? [content] : content.map((p) => p.text ?? p.refusal ?? '')
  // Anthropic rejects empty text blocks; an empty string carries nothing to keep.
  return parts.filter((text) => text !== '').map((text) => ({ type: 'text', text }))
}

function imageBlock(url: string, detail: string | undefined, param: string): ImageBlock {
  if (detail !== undefined && detail !== 'auto') {
    throw unsupportedParameter('anthropic', `${param}.detail`, 'Anthropic has no image detail level')
  }
  const data = DATA_URL.exec(url)
  if (data !== null) {
    const mediaType = data[1]!.toLowerCase()
    if (!IMAGE_TYPES.includes(mediaType)) {
      throw unsupportedParameter('anthropic', `${param}.url`, `Anthropic accepts JPEG, PNG, GIF or WebP images, not ${mediaType}`)
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType as ImageMediaType, data: data[2]! } }
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } }
  throw unsupportedParameter('anthropic', `${param}.url`, 'an image must be an http(s) URL or a base64 data: URL')
}

function userBlock(part: UserContentPart, param: string): RequestBlock | undefined {
  switch (part.type) {
    case 'text':
      return part.text === '' ? undefined : { type: 'text', text: part.text }
    case 'image_url':
      return imageBlock(part.image_url.url, part.image_url.detail, `${param}.image_url`)
    case 'file': {
      // A PDF sent inline is Anthropic's document block; an OpenAI file id means nothing to Anthropic.
      const data = DATA_URL.exec(part.file.file_data ?? '')
      if (data?.[1]?.toLowerCase() !== 'application/pdf' || part.file.file_id !== undefined) {
        throw unsupportedParameter('anthropic', `${param}.file`, 'Anthropic takes files only as inline PDF data (data:application/pdf;base64,...)')
      }
      return {
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: data[2]! },
        ...(part.file.filename === undefined ? {} : { title: part.file.filename }),
      }
    }
    case 'input_audio':
      throw unsupportedParameter('anthropic', param, 'Anthropic models take no audio input')
  }
}

/** OpenAI sends tool arguments as a JSON string; Anthropic wants the object itself. */
function toolUse(call: NonNullable<AssistantMessage['tool_calls']>[number], param: string): ToolUseBlock {
  let input: unknown = {}
  // A tool without parameters is often called with '' rather than '{}'.
  if (call.function.arguments.trim() !== '') {
    try {
      input = JSON.parse(call.function.arguments)
    } catch {
      throw new GatewayError('invalid_request', `${param}.function.arguments is not valid JSON`, 'messages')
    }
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new GatewayError('invalid_request', `${param}.function.arguments must be a JSON object`, 'messages')
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input: input as Record<string, unknown> }
}

function toTurn(message: ChatMessage, index: number, system: TextBlock[]): MessageParam | undefined {
  const param = `messages[${index}]`
  switch (message.role) {
    case 'system':
    case 'developer':
      refuseName(index, message.name)
      system.push(...textBlocks(message.content))
      return undefined
    case 'user': {
      refuseName(index, message.name)
      const content =
        typeof message.content === 'string'
          ? textBlocks(message.content)
          : message.content.flatMap((part, j) => userBlock(part, `${param}.content[${j}]`) ?? [])
      return { role: 'user', content }
    }
    case 'assistant': {
      refuseName(index, message.name)
      const content: RequestBlock[] = textBlocks(message.content ?? '')
      // A refusal is what the assistant said in that turn: it stays in the transcript as text.
      if (typeof message.refusal === 'string' && message.refusal !== '') content.push({ type: 'text', text: message.refusal })
      for (const [k, call] of (message.tool_calls ?? []).entries()) content.push(toolUse(call, `${param}.tool_calls[${k}]`))
      return { role: 'assistant', content }
    }
    case 'tool': {
      const text = textBlocks(message.content)
      const content = text.length === 0 ? {} : { content: typeof message.content === 'string' ? message.content : text }
      return { role: 'user', content: [{ type: 'tool_result', tool_use_id: message.tool_call_id, ...content }] }
    }
  }
}

/** Tool results must open the user turn that answers the tool calls; any other content follows them. */
function toolResultsFirst(content: RequestBlock[]): RequestBlock[] {
  return [...content.filter((b) => b.type === 'tool_result'), ...content.filter((b) => b.type !== 'tool_result')]
}

export function toAnthropicConversation(messages: readonly ChatMessage[]): AnthropicConversation {
  const system: TextBlock[] = []
  const merged: MessageParam[] = []
  for (const [index, message] of messages.entries()) {
    const turn = toTurn(message, index, system)
    // A turn with no content (an empty assistant message, say) is rejected by Anthropic and says nothing.
    if (turn === undefined || turn.content.length === 0) continue
    const last = merged.at(-1)
    if (last?.role === turn.role) last.content.push(...turn.content)
    else merged.push(turn)
  }
  for (const turn of merged) if (turn.role === 'user') turn.content = toolResultsFirst(turn.content)
  if (merged.length === 0) {
    throw new GatewayError('invalid_request', 'Anthropic needs at least one user or assistant message besides system messages', 'messages')
  }
  if (merged[0]!.role !== 'user') {
    throw new GatewayError('invalid_request', 'Anthropic needs the conversation (after system messages) to start with a user message', 'messages')
  }
  return { system, messages: merged }
}
