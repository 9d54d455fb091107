import type { AssistantMessage, ChatMessage, ToolCall, ToolMessage, UserContentPart } from '../../../api/chat-completions.ts'
import type { ContentBlock, MessageParam, ToolResultBlock } from './request-schema.ts'
import { invalidRequest, unsupportedField } from './validation.ts'
import type { AnthropicVersion } from './wire.ts'

/**
 * Anthropic's `system` + `messages` → canonical messages.
 *
 * - Consecutive user (or assistant) messages are one turn, as Anthropic combines them; a `system` message
 *   inside `messages` stays a system message at its place.
 * - A user turn's `tool_result` blocks become `tool` messages, one per result, in order, BEFORE the turn's
 *   text and images (OpenAI wants tool messages right after the assistant's tool calls); each must answer
 *   a `tool_use` of the previous assistant turn, and every `tool_use` must be answered in the next turn,
 *   as Anthropic checks.
 * - `thinking` / `redacted_thinking` blocks in assistant history are dropped: their signatures only verify
 *   on Anthropic and no other provider can replay them. An assistant turn left empty is omitted.
 * - `cache_control` and citations on assistant text are dropped: they never change what the model reads.
 */

interface Located {
  block: ContentBlock
  path: string
}

type Item =
  | { kind: 'system'; content: string | readonly { text: string }[] }
  | { kind: 'turn'; role: 'user' | 'assistant'; blocks: Located[]; index: number }

interface PendingToolUses {
  ids: Set<string>
  param: string
}

export function translateConversation(
  system: string | readonly { text: string }[] | undefined,
  messages: readonly MessageParam[],
  version: AnthropicVersion,
): ChatMessage[] {
  requireContent(messages)
  const out: ChatMessage[] = []
  const top = systemMessage(system)
  if (top !== undefined) out.push(top)
  let pending: PendingToolUses | undefined
  // A system message between tool calls and their results waits until the results are out.
  let deferred: ChatMessage[] = []
  for (const item of groupTurns(messages)) {
    if (item.kind === 'system') {
      const message = systemMessage(item.content)
      if (message !== undefined) (pending === undefined ? out : deferred).push(message)
    } else if (item.role === 'assistant') {
      if (pending !== undefined) throw unansweredToolUses(pending)
      const { message, toolUseIds } = assistantTurn(item.blocks, version)
      if (message !== undefined) out.push(message)
      pending = toolUseIds.length === 0 ? undefined : { ids: new Set(toolUseIds), param: `messages.${item.index}` }
    } else {
      const { toolMessages, user } = userTurn(item.blocks, pending, version)
      out.push(...toolMessages, ...deferred)
      if (user !== undefined) out.push(user)
      pending = undefined
      deferred = []
    }
  }
  if (pending !== undefined) throw unansweredToolUses(pending)
  return out
}

function requireContent(messages: readonly MessageParam[]): void {
  messages.forEach((m, i) => {
    const empty = m.content.length === 0
    const finalAssistant = i === messages.length - 1 && m.role === 'assistant'
    if (empty && m.role !== 'system' && !finalAssistant) {
      throw invalidRequest(`messages.${i}`, 'all messages must have non-empty content except for the optional final assistant message')
    }
  })
}

function groupTurns(messages: readonly MessageParam[]): Item[] {
  const items: Item[] = []
  messages.forEach((m, i) => {
    if (m.role === 'system') {
      items.push({ kind: 'system', content: m.content })
      return
    }
    const blocks: Located[] =
      typeof m.content === 'string'
        ? [{ block: { type: 'text', text: m.content }, path: `messages.${i}.content` }]
        : m.content.map((block, k) => ({ block, path: `messages.${i}.content.${k}` }))
    const last = items.at(-1)
    if (last?.kind === 'turn' && last.role === m.role) last.blocks.push(...blocks)
    else items.push({ kind: 'turn', role: m.role, blocks, index: i })
  })
  return items
}

function systemMessage(content: string | readonly { text: string }[] | undefined): ChatMessage | undefined {
  if (content === undefined) return undefined
  if (typeof content === 'string') return content === '' ? undefined : { role: 'system', content }
  const parts = content.filter((b) => b.text !== '').map((b) => ({ type: 'text' as const, text: b.text }))
  if (parts.length === 0) return undefined
  return { role: 'system', content: parts.length === 1 ? parts[0]!.text : parts }
}

function assistantTurn(blocks: readonly Located[], version: AnthropicVersion): { message?: AssistantMessage; toolUseIds: string[] } {
  const texts: string[] = []
  const toolCalls: ToolCall[] = []
  for (const { block, path } of blocks) {
    switch (block.type) {
      case 'text':
        if (block.text !== '') texts.push(block.text)
        break
      case 'tool_use':
        if (block.caller !== undefined && block.caller.type !== 'direct') {
          throw unsupportedField(`${path}.caller`, 'tool calls made by Anthropic server tools cannot be replayed to other providers')
        }
        if (block.toolset_name !== undefined && block.toolset_name !== null) {
          throw unsupportedField(`${path}.toolset_name`, 'toolsets run on Anthropic only')
        }
        toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } })
        break
      case 'thinking':
      case 'redacted_thinking':
        break
      case 'tool_result':
        throw invalidRequest(path, 'tool_result blocks are only allowed in user messages')
      case 'image':
        throw unsupportedField(path, 'the canonical assistant message carries text and tool calls only')
      case 'document':
        if (version !== '2023-06-01') throw invalidRequest(path, 'document blocks are not allowed in assistant messages')
        throw unsupportedField(path, untranslatableReason(block.type))
      default:
        throw unsupportedField(path, untranslatableReason(block.type))
    }
  }
  const toolUseIds = toolCalls.map((c) => c.id)
  if (texts.length === 0 && toolCalls.length === 0) return { toolUseIds }
  const content = texts.length === 0 ? null : texts.length === 1 ? texts[0]! : texts.map((text) => ({ type: 'text' as const, text }))
  return { message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }, toolUseIds }
}

function userTurn(
  blocks: readonly Located[],
  pending: PendingToolUses | undefined,
  version: AnthropicVersion,
): { toolMessages: ToolMessage[]; user?: ChatMessage } {
  const toolMessages: ToolMessage[] = []
  const parts: UserContentPart[] = []
  const answered = new Set<string>()
  for (const { block, path } of blocks) {
    switch (block.type) {
      case 'text':
        if (version !== '2023-06-01' && (block.citations?.length ?? 0) > 0) {
          throw invalidRequest(`${path}.citations`, 'citations are not allowed on text blocks in user messages')
        }
        if (block.text !== '') parts.push({ type: 'text', text: block.text })
        break
      case 'image':
        parts.push(imagePart(block, path))
        break
      case 'tool_result':
        if (pending?.ids.has(block.tool_use_id) !== true || answered.has(block.tool_use_id)) {
          throw invalidRequest(
            `${path}.tool_use_id`,
            `unexpected tool_use_id found in tool_result blocks: ${block.tool_use_id}. Each tool_result block must have a corresponding tool_use block in the previous message.`,
          )
        }
        answered.add(block.tool_use_id)
        toolMessages.push({ role: 'tool', tool_call_id: block.tool_use_id, content: toolResultText(block, path) })
        break
      case 'tool_use':
      case 'thinking':
      case 'redacted_thinking':
        throw invalidRequest(path, `${block.type} blocks are only allowed in assistant messages`)
      default:
        throw unsupportedField(path, untranslatableReason(block.type))
    }
  }
  if (pending !== undefined && answered.size < pending.ids.size) throw unansweredToolUses(pending, answered)
  if (parts.length === 0) return { toolMessages }
  const only = parts[0]!
  return { toolMessages, user: { role: 'user', content: parts.length === 1 && only.type === 'text' ? only.text : parts } }
}

type ImageBlock = Extract<ContentBlock, { type: 'image' }>

function imagePart(block: ImageBlock, path: string): UserContentPart {
  if (block.transformations?.oversized_image === 'error') {
    throw unsupportedField(`${path}.transformations`, 'other providers cannot promise to reject oversized images instead of downsizing them')
  }
  const source = block.source
  if (source.type === 'file') throw unsupportedField(`${path}.source`, "file ids refer to Anthropic's Files API")
  const url = source.type === 'base64' ? `data:${source.media_type};base64,${source.data}` : source.url
  return { type: 'image_url', image_url: { url } }
}

/**
 * The canonical tool message carries text only, so text blocks are joined. OpenAI has no error flag on a
 * tool result: `is_error` becomes an `Error: ` prefix, the way the model is told elsewhere.
 */
function toolResultText(block: ToolResultBlock, path: string): string {
  let text: string
  if (block.content === undefined || typeof block.content === 'string') {
    text = block.content ?? ''
  } else {
    text = block.content
      .map((part, k) => {
        if (part.type === 'text') return part.text
        const why = part.type === 'image' ? 'the canonical tool message carries text only' : untranslatableReason(part.type)
        throw unsupportedField(`${path}.content.${k}`, why)
      })
      .join('\n')
  }
  if (block.toolset_name !== undefined && block.toolset_name !== null) {
    throw unsupportedField(`${path}.toolset_name`, 'toolsets run on Anthropic only')
  }
  return block.is_error === true ? (text === '' ? 'Error' : `Error: ${text}`) : text
}

function unansweredToolUses(pending: PendingToolUses, answered: ReadonlySet<string> = new Set()): Error {
  const missing = [...pending.ids].filter((id) => !answered.has(id)).join(', ')
  return invalidRequest(
    pending.param,
    `tool_use ids were found without tool_result blocks immediately after: ${missing}. Each tool_use block must have a corresponding tool_result block in the next message.`,
  )
}

function untranslatableReason(type: string): string {
  if (type === 'server_tool_use' || type.endsWith('_tool_result')) return "server tools run on Anthropic's servers and cannot be replayed to other providers"
  if (type === 'container_upload') return 'containers exist only on Anthropic'
  return `'${type}' blocks have no equivalent in the providers this gateway routes to`
}
