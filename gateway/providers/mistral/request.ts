import { textOf } from '../../api/chat-completions.ts'
import type { ChatCompletionRequest, ResponseFormat, Tool } from '../../api/chat-completions.ts'
import { GatewayError } from '../../errors.ts'
import { unsupportedParameter } from '../errors.ts'
import type { CallContext, UpstreamRequest } from '../types.ts'
import { mistralHeaders } from './api.ts'
import { toMistralMessages } from './messages.ts'

type Canonical = ChatCompletionRequest

/**
 * What happens to one canonical field: `built` (set by buildMistralChatRequest itself), `same` (sent as
 * it is), renamed, refused with a reason, or translated by a function returning Mistral fields.
 */
type Rule<K extends keyof Canonical> =
  | 'built'
  | 'same'
  | { rename: string }
  | { refuse: string }
  | ((value: NonNullable<Canonical[K]>, request: Canonical) => Record<string, unknown>)

const refuse = (param: string, why: string): never => {
  throw unsupportedParameter('mistral', param, why)
}

function toMistralTool({ function: f }: Tool): Record<string, unknown> {
  return {
    type: 'function',
    function: {
      name: f.name,
      ...(f.description === undefined ? {} : { description: f.description }),
      // Mistral requires `parameters`; OpenAI reads a missing one as "no arguments".
      parameters: f.parameters ?? { type: 'object', properties: {} },
      ...(f.strict === null || f.strict === undefined ? {} : { strict: f.strict }),
    },
  }
}

function toMistralResponseFormat(format: ResponseFormat): Record<string, unknown> {
  if (format.type !== 'json_schema') return format
  const { name, description, schema, strict } = format.json_schema
  if (schema === undefined) return refuse('response_format.json_schema.schema', 'Mistral requires a schema in json_schema mode')
  return {
    type: 'json_schema',
    json_schema: { name, schema, ...(description === undefined ? {} : { description }), ...(strict === null || strict === undefined ? {} : { strict }) },
  }
}

/**
 * Every canonical field, decided once: the mapped type makes a new canonical field a compile error here
 * until someone decides what Mistral does with it. Facts from Mistral's API reference (SDK 2.x types).
 */
const PARAMS: { readonly [K in keyof Canonical]-?: Rule<K> } = {
  model: 'built',
  messages: 'built',
  stream: 'built',
  // Mistral rejects stream_options; its streams always end with a usage chunk, so include_usage is
  // honoured anyway, and include_obfuscation (padding against length side channels) is OpenAI transport.
  stream_options: 'built',
  temperature: 'same',
  top_p: 'same',
  stop: 'same',
  frequency_penalty: 'same',
  presence_penalty: 'same',
  n: 'same',
  tool_choice: 'same', // 'auto' | 'none' | 'required' and the named form are all Mistral's too
  parallel_tool_calls: 'same',
  prompt_cache_key: 'same',
  seed: { rename: 'random_seed' },
  max_completion_tokens: { rename: 'max_tokens' },
  max_tokens: (max, request) => {
    const other = request.max_completion_tokens
    if (other !== null && other !== undefined && other !== max) {
      throw new GatewayError('invalid_request', 'max_tokens and max_completion_tokens disagree; set one of them', 'max_tokens')
    }
    return { max_tokens: max }
  },
  tools: (tools) => ({ tools: tools.map(toMistralTool) }),
  response_format: (format) => ({ response_format: toMistralResponseFormat(format) }),
  reasoning_effort: (effort) =>
    effort === 'none' || effort === 'high'
      ? { reasoning_effort: effort }
      : refuse('reasoning_effort', `Mistral accepts only 'none' or 'high', not '${effort}'`),
  service_tier: (tier) =>
    tier === 'auto'
      ? { service_tier: 'auto' }
      : tier === 'default'
        ? { service_tier: 'standard_only' }
        : refuse('service_tier', `Mistral offers 'auto' and standard capacity ('default'), not '${tier}'`),
  prediction: (prediction) => {
    const content = prediction.content as string | { type: string; text?: string }[] | undefined
    const text = typeof content === 'string' ? content : Array.isArray(content) && content.every((p) => p.type === 'text') ? textOf(content) : undefined
    return prediction.type === 'content' && text !== undefined
      ? { prediction: { type: 'content', content: text } }
      : refuse('prediction', "only {type: 'content', content: text} has a Mistral equivalent")
  },
  modalities: (modalities) => (modalities.every((m) => m === 'text') ? {} : refuse('modalities', 'Mistral answers in text only')),
  logprobs: (on) => (on ? refuse('logprobs', 'Mistral returns no log probabilities') : {}),
  store: (on) => (on ? refuse('store', 'Mistral keeps no stored completions') : {}),
  top_logprobs: { refuse: 'Mistral returns no log probabilities' },
  logit_bias: { refuse: 'Mistral has no logit bias' },
  user: { refuse: 'Mistral has no end-user field and rejects it' },
  safety_identifier: { refuse: 'Mistral has no end-user safety identifier' },
  metadata: { refuse: 'Mistral has no stored completions to tag' },
  verbosity: { refuse: 'Mistral has no verbosity control' },
}

/** Chat Completions at `{baseUrl}/chat/completions` (baseUrl includes /v1). */
export function buildMistralChatRequest(request: Canonical, ctx: CallContext & { stream: boolean }): UpstreamRequest {
  const body: Record<string, unknown> = { model: ctx.model, messages: toMistralMessages(request.messages) }
  for (const key of Object.keys(request) as (keyof Canonical)[]) {
    const value = request[key]
    if (value === null || value === undefined) continue
    const rule = PARAMS[key] as Rule<keyof Canonical>
    if (rule === 'built') continue
    if (rule === 'same') body[key] = value
    else if (typeof rule === 'function') Object.assign(body, rule(value, request))
    else if ('rename' in rule) body[rule.rename] = value
    else refuse(key, rule.refuse)
  }
  if (ctx.stream) body.stream = true
  return { method: 'POST', url: `${ctx.credential.baseUrl}/chat/completions`, headers: mistralHeaders(ctx.credential), body }
}
