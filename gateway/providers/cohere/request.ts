import type { ChatCompletionRequest, ResponseFormat, Tool, ToolChoice } from '../../api/chat-completions.ts'
import { unsupportedParameter } from '../errors.ts'
import type { CallContext, UpstreamRequest } from '../types.ts'
import { cohereHeaders } from './api.ts'
import { toCohereMessages } from './messages.ts'
import type { CohereChatRequest, CohereTool } from './wire.ts'

type Refusal = (value: NonNullable<unknown>) => string | undefined

/**
 * Canonical parameters Cohere has no equivalent for, each with the reason the client is told. A value
 * that only restates OpenAI's default (n: 1, logprobs: false, store: false, parallel_tool_calls: true)
 * asks for nothing Cohere does not already do, so it passes.
 */
const REFUSED: Readonly<Partial<Record<keyof ChatCompletionRequest, Refusal>>> = {
  n: (v) => (v === 1 ? undefined : 'Cohere returns one choice per request'),
  logprobs: (v) => (v === false ? undefined : 'the gateway does not translate Cohere log-probabilities'),
  top_logprobs: () => 'Cohere does not return alternative tokens',
  logit_bias: () => 'Cohere has no token bias',
  parallel_tool_calls: (v) => (v === true ? undefined : 'Cohere cannot be limited to one tool call per turn'),
  user: () => 'Cohere has no end-user identifier',
  metadata: () => 'OpenAI-only: Cohere stores no completions',
  store: (v) => (v === false ? undefined : 'OpenAI-only: Cohere stores no completions'),
  service_tier: () => 'OpenAI-only',
  modalities: () => 'Cohere chat answers in text only',
  prediction: () => 'OpenAI-only (predicted outputs)',
  prompt_cache_key: () => 'OpenAI-only: Cohere caches prompts on its own',
  safety_identifier: () => 'Cohere has no end-user identifier',
  verbosity: () => 'OpenAI-only',
}

/**
 * reasoning_effort → `thinking`. Cohere recommends unlimited thinking, so `high` sets no budget; lower
 * efforts cap the thinking tokens (Cohere's guide: a budget leaves at least 1K tokens for the answer).
 */
const THINKING_BUDGETS = { minimal: 1024, low: 4096, medium: 16384 } as const

export function buildCohereChatRequest(request: ChatCompletionRequest, ctx: CallContext & { stream: boolean }): UpstreamRequest {
  for (const [param, refuse] of Object.entries(REFUSED)) {
    const value = request[param as keyof ChatCompletionRequest]
    if (value === undefined || value === null) continue
    const reason = refuse(value)
    if (reason !== undefined) throw unsupportedParameter('cohere', param, reason)
  }
  // `stream_options` needs no translation: Cohere always reports usage at the end of a stream, and the
  // core decides whether the client gets a usage chunk (include_obfuscation is OpenAI's own padding).
  const body: CohereChatRequest = { model: ctx.model, messages: toCohereMessages(request.messages), stream: ctx.stream }
  if (request.tools !== undefined && request.tools.length > 0) Object.assign(body, tools(request.tools))
  if (request.tool_choice !== undefined) {
    const choice = toolChoice(request.tool_choice)
    if (choice !== undefined) body.tool_choice = choice
  }
  if (request.response_format !== undefined) body.response_format = responseFormat(request.response_format)
  const maxTokens = request.max_completion_tokens ?? request.max_tokens
  if (maxTokens !== undefined && maxTokens !== null) body.max_tokens = maxTokens
  if (request.stop !== undefined && request.stop !== null) {
    const stops = typeof request.stop === 'string' ? [request.stop] : request.stop
    if (stops.length > 0) body.stop_sequences = stops
  }
  if (request.temperature !== undefined && request.temperature !== null) body.temperature = request.temperature
  // Cohere's p must lie in [0.01, 0.99]: 1 (no nucleus cut) and 0 (greedy) map to the nearest allowed value.
  if (request.top_p !== undefined && request.top_p !== null) body.p = Math.min(0.99, Math.max(0.01, request.top_p))
  if (request.seed !== undefined && request.seed !== null) body.seed = request.seed
  for (const param of ['frequency_penalty', 'presence_penalty'] as const) {
    const value = request[param]
    if (value === undefined || value === null) continue
    if (value < 0 || value > 1) throw unsupportedParameter('cohere', param, 'Cohere accepts 0 to 1 (it has no negative penalty)')
    body[param] = value
  }
  if (request.reasoning_effort !== undefined && request.reasoning_effort !== null) {
    const effort = request.reasoning_effort
    body.thinking = effort === 'none' ? { type: 'disabled' } : effort === 'high' ? { type: 'enabled' } : { type: 'enabled', token_budget: THINKING_BUDGETS[effort] }
  }
  return { method: 'POST', url: `${ctx.credential.baseUrl}/chat`, headers: cohereHeaders(ctx.credential, ctx.stream), body }
}

/** Cohere requires `parameters`; its `strict_tools` applies to every tool at once, so it needs all or none. */
function tools(list: readonly Tool[]): Pick<CohereChatRequest, 'tools' | 'strict_tools'> {
  const strict = list.filter((t) => t.function.strict === true).length
  if (strict > 0 && strict < list.length) {
    throw unsupportedParameter('cohere', 'tools', "Cohere's strict mode applies to all tools or none; mark every tool strict or none")
  }
  const out: CohereTool[] = list.map((t) => ({
    type: 'function',
    function: {
      name: t.function.name,
      ...(t.function.description === undefined ? {} : { description: t.function.description }),
      parameters: t.function.parameters ?? { type: 'object', properties: {} },
    },
  }))
  return strict > 0 ? { tools: out, strict_tools: true } : { tools: out }
}

/** Cohere knows REQUIRED and NONE; its default is OpenAI's `auto`. It cannot force one named function. */
function toolChoice(choice: ToolChoice): CohereChatRequest['tool_choice'] {
  if (choice === 'auto') return undefined
  if (choice === 'required') return 'REQUIRED'
  if (choice === 'none') return 'NONE'
  throw unsupportedParameter('cohere', 'tool_choice', 'Cohere cannot force one named function; use "required" with only that tool')
}

/**
 * Cohere's json_object takes an optional JSON schema and always enforces it, so json_schema maps onto it;
 * the schema's name and description are labels OpenAI uses, not constraints, and Cohere has no place for them.
 */
function responseFormat(format: ResponseFormat): CohereChatRequest['response_format'] {
  if (format.type === 'text') return { type: 'text' }
  if (format.type === 'json_object' || format.json_schema.schema === undefined) return { type: 'json_object' }
  return { type: 'json_object', json_schema: format.json_schema.schema }
}
