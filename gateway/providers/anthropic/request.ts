import type { ChatCompletionRequest } from '../../api/chat-completions.ts'
import { unsupportedParameter } from '../errors.ts'
import type { CallContext, UpstreamRequest } from '../types.ts'
import { anthropicHeaders } from './api.ts'
import { toAnthropicConversation } from './messages.ts'
import { DEFAULT_MAX_TOKENS, DEFAULT_MAX_TOKENS_WHEN_THINKING, MIN_THINKING_BUDGET, THINKING_BUDGETS, thinkingSupport } from './models.ts'
import type { ThinkingSupport } from './models.ts'
import type { Effort, MessageCreateParams, OutputConfig, ThinkingParam, ToolChoiceParam, ToolParam } from './wire.ts'

type Request = ChatCompletionRequest
type Rule = { translated: true } | { translated: false; why: string; /** A value that asks for nothing, so it is honoured by sending nothing. */ neutral?: (value: unknown) => boolean }

const translated: Rule = { translated: true }
const refused = (why: string, neutral?: (value: unknown) => boolean): Rule => (neutral === undefined ? { translated: false, why } : { translated: false, why, neutral })
const is = (expected: unknown) => (value: unknown) => value === expected
const isEmpty = (value: unknown) => (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && value !== null && Object.keys(value).length === 0)

/**
 * Every canonical request field, and what becomes of it: TypeScript fails here when the canonical schema
 * gains a field nobody has decided about. A refused field set to its OpenAI default (temperature 1,
 * n 1, frequency_penalty 0, ...) asks for Anthropic's own behaviour and passes.
 */
const PARAMETERS = {
  model: translated,
  messages: translated,
  max_tokens: translated,
  max_completion_tokens: translated,
  stop: translated,
  stream: translated,
  stream_options: translated,
  tools: translated,
  tool_choice: translated,
  parallel_tool_calls: translated,
  response_format: translated,
  reasoning_effort: translated,
  user: translated,
  safety_identifier: translated,
  service_tier: translated,
  // API version 2026-10-21 removed sampling parameters: any value, even the default, is a 400 upstream.
  temperature: refused('Anthropic API version 2026-10-21 removed temperature; only the default 1 can be honoured', is(1)),
  top_p: refused('Anthropic API version 2026-10-21 removed top_p; only the default 1 can be honoured', is(1)),
  seed: refused('Anthropic has no sampling seed'),
  frequency_penalty: refused('Anthropic has no frequency penalty', is(0)),
  presence_penalty: refused('Anthropic has no presence penalty', is(0)),
  logit_bias: refused('Anthropic has no logit bias', isEmpty),
  logprobs: refused('Anthropic returns no log probabilities', is(false)),
  top_logprobs: refused('Anthropic returns no log probabilities', is(0)),
  n: refused('Anthropic returns one choice per request', is(1)),
  metadata: refused('Anthropic metadata holds only a user id (send `user`)', isEmpty),
  store: refused('Anthropic does not store completions', is(false)),
  modalities: refused('Anthropic models answer with text only', (v) => Array.isArray(v) && v.every((m) => m === 'text')),
  prediction: refused('Anthropic has no predicted outputs'),
  prompt_cache_key: refused('Anthropic caches by prompt prefix and takes no cache key'),
  verbosity: refused('Anthropic has no verbosity setting', is('medium')),
} satisfies Record<keyof Request, Rule>

function refuseUnsupported(request: Request): void {
  for (const [param, rule] of Object.entries(PARAMETERS) as [keyof Request, Rule][]) {
    const value = request[param]
    if (value === undefined || value === null || rule.translated) continue
    if (rule.neutral?.(value) !== true) throw unsupportedParameter('anthropic', param, rule.why)
  }
}

function tools(request: Request): ToolParam[] | undefined {
  return request.tools?.map(({ function: f }) => ({
    name: f.name,
    ...(f.description === undefined ? {} : { description: f.description }),
    // Anthropic requires an object schema; OpenAI allows a function without parameters.
    input_schema: f.parameters ?? { type: 'object', properties: {} },
    ...(f.strict === true ? { strict: true } : {}),
  }))
}

function toolChoice(request: Request, support: ThinkingSupport, model: string, thinking: boolean): ToolChoiceParam | undefined {
  const choice = request.tool_choice
  const serial = request.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {}
  if (choice === 'none') return { type: 'none' }
  if (choice === 'required' || typeof choice === 'object') {
    if (!support.forcedToolUse) throw unsupportedParameter('anthropic', 'tool_choice', `${model} cannot be forced to call a tool; use "auto"`)
    if (thinking) throw unsupportedParameter('anthropic', 'tool_choice', 'Anthropic cannot force a tool call while thinking; use "auto" or drop reasoning_effort')
    return choice === 'required' ? { type: 'any', ...serial } : { type: 'tool', name: choice.function.name, ...serial }
  }
  if (choice === 'auto' || request.parallel_tool_calls === false) return request.tools?.length ? { type: 'auto', ...serial } : undefined
  return undefined
}

const EFFORT: Record<'minimal' | 'low' | 'medium' | 'high', Effort> = { minimal: 'low', low: 'low', medium: 'medium', high: 'high' }

/**
 * reasoning_effort → thinking. Adaptive models (Claude 4.6 and later) take `thinking: adaptive` with
 * `output_config.effort`; older ones take a manual `budget_tokens`, which must be at least 1024 and
 * below max_tokens. 'none' turns thinking off as each model allows, or is refused where it cannot.
 */
function thinking(request: Request, model: string, support: ThinkingSupport, maxTokens: number | undefined): { thinking?: ThinkingParam; effort?: Effort; maxTokens: number } {
  const effort = request.reasoning_effort
  if (effort === undefined || effort === null) {
    return { maxTokens: maxTokens ?? (support.thinksByDefault ? DEFAULT_MAX_TOKENS_WHEN_THINKING : DEFAULT_MAX_TOKENS) }
  }
  if (effort === 'none') {
    if (support.off === null) throw unsupportedParameter('anthropic', 'reasoning_effort', `${model} always thinks; 'minimal' is the lowest effort it takes`)
    const off = support.off === 'omit' ? {} : { thinking: { type: support.off } }
    return { ...off, maxTokens: maxTokens ?? DEFAULT_MAX_TOKENS }
  }
  if (support.mode === 'adaptive') {
    return { thinking: { type: 'adaptive' }, effort: EFFORT[effort], maxTokens: maxTokens ?? DEFAULT_MAX_TOKENS_WHEN_THINKING }
  }
  // Thinking tokens count toward max_tokens, as reasoning tokens count toward OpenAI's max_completion_tokens.
  const budget = maxTokens === undefined ? THINKING_BUDGETS[effort] : Math.min(THINKING_BUDGETS[effort], maxTokens - 1)
  if (budget < MIN_THINKING_BUDGET) {
    throw unsupportedParameter('anthropic', 'reasoning_effort', `thinking on ${model} needs max_completion_tokens above ${MIN_THINKING_BUDGET}`)
  }
  return { thinking: { type: 'enabled', budget_tokens: budget }, maxTokens: maxTokens ?? budget + DEFAULT_MAX_TOKENS }
}

function outputFormat(request: Request): OutputConfig['format'] {
  const format = request.response_format
  if (format === undefined || format.type === 'text') return undefined
  if (format.type === 'json_object') {
    throw unsupportedParameter('anthropic', 'response_format', "Anthropic's JSON output needs a schema; use type 'json_schema'")
  }
  if (format.json_schema.schema === undefined) {
    throw unsupportedParameter('anthropic', 'response_format.json_schema.schema', "Anthropic's JSON output needs a schema")
  }
  if (format.json_schema.description !== undefined) {
    throw unsupportedParameter('anthropic', 'response_format.json_schema.description', "Anthropic's output format takes a schema only")
  }
  // Anthropic's structured output is always constrained decoding, which is what strict asks for anyway.
  return { type: 'json_schema', schema: format.json_schema.schema }
}

/** OpenAI's `user` and its successor `safety_identifier` both mean Anthropic's end-user id. */
function userId(request: Request): string | undefined {
  const { user, safety_identifier: safety } = request
  if (user !== undefined && safety !== undefined && user !== safety) {
    throw unsupportedParameter('anthropic', 'safety_identifier', 'Anthropic takes one end-user id; send `user` or `safety_identifier`, not two different ones')
  }
  return safety ?? user
}

function serviceTier(request: Request): MessageCreateParams['service_tier'] {
  const tier = request.service_tier
  if (tier === undefined || tier === null) return undefined
  if (tier === 'auto') return 'auto'
  if (tier === 'default') return 'standard_only'
  throw unsupportedParameter('anthropic', 'service_tier', `Anthropic has no '${tier}' tier; use 'auto' or 'default'`)
}

export function buildAnthropicChatRequest(request: Request, ctx: CallContext & { stream: boolean }): UpstreamRequest {
  refuseUnsupported(request)
  if (request.stream_options?.include_obfuscation === true) {
    throw unsupportedParameter('anthropic', 'stream_options.include_obfuscation', 'Anthropic streams carry no obfuscation padding')
  }
  const support = thinkingSupport(ctx.model)
  const reasoning = thinking(request, ctx.model, support, request.max_completion_tokens ?? request.max_tokens ?? undefined)
  const { system, messages } = toAnthropicConversation(request.messages)
  const thinkingAsked = request.reasoning_effort !== undefined && request.reasoning_effort !== null && request.reasoning_effort !== 'none'
  const choice = toolChoice(request, support, ctx.model, thinkingAsked)
  const format = outputFormat(request)
  const stop = request.stop ?? undefined
  const user = userId(request)
  const tier = serviceTier(request)
  const toolParams = tools(request)
  const body: MessageCreateParams = {
    model: ctx.model,
    max_tokens: reasoning.maxTokens,
    messages,
    ...(system.length === 0 ? {} : { system }),
    ...(stop === undefined ? {} : { stop_sequences: typeof stop === 'string' ? [stop] : stop }),
    ...(toolParams === undefined ? {} : { tools: toolParams }),
    ...(choice === undefined ? {} : { tool_choice: choice }),
    ...(reasoning.thinking === undefined ? {} : { thinking: reasoning.thinking }),
    ...(reasoning.effort === undefined && format === undefined
      ? {}
      : { output_config: { ...(reasoning.effort === undefined ? {} : { effort: reasoning.effort }), ...(format === undefined ? {} : { format }) } }),
    ...(user === undefined ? {} : { metadata: { user_id: user } }),
    ...(tier === undefined ? {} : { service_tier: tier }),
    ...(ctx.stream ? { stream: true } : {}),
  }
  return { method: 'POST', url: `${ctx.credential.baseUrl}/messages`, headers: anthropicHeaders(ctx.credential), body }
}
