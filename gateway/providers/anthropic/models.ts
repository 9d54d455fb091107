import type { ModelInfo } from '../types.ts'

/** Listed by GET /v1/models: current and legacy-but-supported Claude models (deprecated ones omitted). */
export const ANTHROPIC_MODELS: readonly ModelInfo[] = [
  { id: 'claude-fable-5-2', kind: 'chat' },
  { id: 'claude-fable-5-1', kind: 'chat' },
  { id: 'claude-opus-5-5', kind: 'chat' },
  { id: 'claude-sonnet-5-5', kind: 'chat' },
  { id: 'claude-haiku-5-5', kind: 'chat' },
  { id: 'claude-fable-5', kind: 'chat' },
  { id: 'claude-opus-5', kind: 'chat' },
  { id: 'claude-sonnet-5', kind: 'chat' },
  { id: 'claude-opus-4-8', kind: 'chat' },
  { id: 'claude-opus-4-7', kind: 'chat' },
  { id: 'claude-opus-4-6', kind: 'chat' },
  { id: 'claude-sonnet-4-6', kind: 'chat' },
  { id: 'claude-haiku-4-5', kind: 'chat' },
]

/**
 * How a model thinks, from Anthropic's thinking troubleshooting table and the per-model migration
 * guides. Claude 4.5 and earlier know only manual extended thinking (`enabled` + `budget_tokens`);
 * 4.6 and later take `adaptive` with `output_config.effort`, and 4.7 and later reject `enabled`.
 */
export interface ThinkingSupport {
  mode: 'adaptive' | 'budget'
  /** How reasoning_effort 'none' is honoured; null where thinking cannot be turned off. */
  off: 'omit' | 'disabled' | 'between_tools' | null
  /** Thinking runs when the request does not mention it (and its tokens count toward max_tokens). */
  thinksByDefault: boolean
  /** tool_choice `any` or a named tool; Opus 5.5, Sonnet 5.5 and Fable 5.1 answer those with a 400. */
  forcedToolUse: boolean
}

const LEGACY: ThinkingSupport = { mode: 'budget', off: 'omit', thinksByDefault: false, forcedToolUse: true }
const ADAPTIVE_OFF_BY_DEFAULT: ThinkingSupport = { mode: 'adaptive', off: 'omit', thinksByDefault: false, forcedToolUse: true }
const ADAPTIVE_ON_BY_DEFAULT: ThinkingSupport = { mode: 'adaptive', off: 'disabled', thinksByDefault: true, forcedToolUse: true }
const ALWAYS_ON: ThinkingSupport = { mode: 'adaptive', off: null, thinksByDefault: true, forcedToolUse: true }
const ALWAYS_ON_NO_FORCED_TOOLS: ThinkingSupport = { ...ALWAYS_ON, forcedToolUse: false }

const KNOWN: Record<string, ThinkingSupport> = {
  'claude-fable-5-2': ALWAYS_ON_NO_FORCED_TOOLS,
  'claude-mythos-5-2': ALWAYS_ON_NO_FORCED_TOOLS,
  'claude-fable-5-1': ALWAYS_ON_NO_FORCED_TOOLS,
  'claude-mythos-5-1': ALWAYS_ON_NO_FORCED_TOOLS,
  'claude-opus-5-5': ALWAYS_ON_NO_FORCED_TOOLS,
  // Sonnet 5.5 replaced `disabled` with `between_tools`: no up-front thinking, only short notes between tool calls.
  'claude-sonnet-5-5': { mode: 'adaptive', off: 'between_tools', thinksByDefault: true, forcedToolUse: false },
  'claude-haiku-5-5': ADAPTIVE_ON_BY_DEFAULT,
  'claude-fable-5': ALWAYS_ON,
  'claude-mythos-5': ALWAYS_ON,
  'claude-mythos-preview': ALWAYS_ON,
  'claude-opus-5': ADAPTIVE_ON_BY_DEFAULT,
  'claude-sonnet-5': ADAPTIVE_ON_BY_DEFAULT,
  'claude-opus-4-8': ADAPTIVE_OFF_BY_DEFAULT,
  'claude-opus-4-7': ADAPTIVE_OFF_BY_DEFAULT,
  'claude-opus-4-6': ADAPTIVE_OFF_BY_DEFAULT,
  'claude-sonnet-4-6': ADAPTIVE_OFF_BY_DEFAULT,
}

/**
 * The thinking support of a model id (a dated snapshot such as claude-haiku-4-5-20251001 is its base id).
 * An id not in the table is placed by its version: 5 and later like Claude 5, 4.6 and later like 4.6,
 * anything older like 4.5; the API has the last word on what it accepts.
 */
export function thinkingSupport(model: string): ThinkingSupport {
  const base = model.replace(/-\d{8}$/, '')
  const known = KNOWN[base]
  if (known !== undefined) return known
  const version = /^claude-[a-z]+-(\d+)(?:-(\d))?(?:-|$)/.exec(base)
  const major = Number(version?.[1] ?? 0)
  const minor = Number(version?.[2] ?? 0)
  if (major >= 5) return ADAPTIVE_ON_BY_DEFAULT
  if (major === 4 && minor >= 6) return ADAPTIVE_OFF_BY_DEFAULT
  return LEGACY
}

/**
 * max_tokens is required by Anthropic, and OpenAI clients often omit it. 4096 covers an ordinary answer;
 * where the model thinks, its thinking counts toward max_tokens too, so 16384 leaves room for both while
 * staying under the size for which the official SDKs insist on streaming (about 21k tokens).
 */
export const DEFAULT_MAX_TOKENS = 4096
export const DEFAULT_MAX_TOKENS_WHEN_THINKING = 16384

/** Manual thinking budgets (Claude 4.5 and earlier) per OpenAI reasoning effort; the API's minimum is 1024. */
export const THINKING_BUDGETS = { minimal: 1024, low: 2048, medium: 8192, high: 16384 } as const
export const MIN_THINKING_BUDGET = 1024
