import type { AssistantMessage, ChatMessage, UserMessage } from '../../api/chat-completions.ts'
import { unsupportedParameter } from '../errors.ts'
import type { CohereImagePart, CohereMessage, CohereTextPart } from './wire.ts'

/**
 * Canonical messages → Cohere v2 messages. The roles are the same four (developer becomes system);
 * content stays a string or becomes Cohere's parts, whose `text` and `image_url` shapes match OpenAI's.
 */
export function toCohereMessages(messages: readonly ChatMessage[]): CohereMessage[] {
  return messages.map((message, i) => {
    // Cohere messages have no participant name, and dropping it could merge two speakers into one.
    if ('name' in message && message.name !== undefined) {
      throw unsupportedParameter('cohere', `messages[${i}].name`, 'Cohere messages have no participant name')
    }
    switch (message.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: textContent(message.content) }
      case 'user':
        return { role: 'user', content: userContent(message.content, i) }
      case 'assistant':
        return assistantMessage(message)
      case 'tool':
        return { role: 'tool', tool_call_id: message.tool_call_id, content: textContent(message.content) }
    }
  })
}

function textContent(content: string | readonly { type: 'text'; text: string }[]): string | CohereTextPart[] {
  return typeof content === 'string' ? content : content.map((p) => ({ type: 'text', text: p.text }))
}

function userContent(content: UserMessage['content'], i: number): string | (CohereTextPart | CohereImagePart)[] {
  if (typeof content === 'string') return content
  return content.map((part, j): CohereTextPart | CohereImagePart => {
    switch (part.type) {
      case 'text':
        return { type: 'text', text: part.text }
      case 'image_url':
        // Cohere takes http(s) image URLs and base64 data URLs, with the same `detail` levels as OpenAI.
        return { type: 'image_url', image_url: { url: part.image_url.url, ...(part.image_url.detail === undefined ? {} : { detail: part.image_url.detail }) } }
      case 'input_audio':
        throw unsupportedParameter('cohere', `messages[${i}].content[${j}]`, 'Cohere chat models take no audio input')
      case 'file':
        throw unsupportedParameter('cohere', `messages[${i}].content[${j}]`, 'Cohere chat takes no file parts; send the text or use documents')
    }
  })
}

/**
 * Text that came with tool calls goes back as `tool_plan`, where Cohere put it (the response side turns
 * a tool plan into assistant content), so a round trip through a client gives the model its own plan.
 * A past refusal is plain text in the history: Cohere has no refusal field.
 */
function assistantMessage(message: AssistantMessage): CohereMessage {
  const text = assistantText(message)
  if (message.tool_calls !== undefined && message.tool_calls.length > 0) {
    return {
      role: 'assistant',
      tool_calls: message.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } })),
      ...(text === '' ? {} : { tool_plan: text }),
    }
  }
  return { role: 'assistant', content: text }
}

function assistantText(message: AssistantMessage): string {
  const content = message.content
  let text = ''
  if (typeof content === 'string') text = content
  else if (Array.isArray(content)) text = content.map((p) => (p.type === 'text' ? p.text : p.refusal)).join('')
  if (text === '' && typeof message.refusal === 'string') text = message.refusal
  return text
}
