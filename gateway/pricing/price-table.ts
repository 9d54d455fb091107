/**
 * The gateway's price table (DESIGN.md §8). Every figure is integer micro-USD per million tokens, so $1.25 per
 * million tokens is 1_250_000. Bump PRICE_TABLE_VERSION on any change: the version goes into every event, and
 * a figure recomputed later must say which table it came from.
 *
 * Why a table of our own rather than `@pydantic/genai-prices` at run time: that package (0.1.8) works offline
 * and was the starting point, but stores prices as floats, matches ids loosely (claude-sonnet-5-5 resolves to
 * claude-sonnet-5), lacks 13 of the 62 models we list, and carries some stale figures (Sonnet 5 at its
 * introductory $2/$10, mistral-large-latest at Large 2's $2/$6). Models with no price we could confirm are left
 * out on purpose: they cost 0 with `priced: false` (see ./cost.ts) instead of a guess.
 */
export const PRICE_TABLE_VERSION = '2026-11-24.1'

export interface ModelPrice {
  inputMicroUsdPerMillion: number
  /** 0 for embedding models, which bill input only. */
  outputMicroUsdPerMillion: number
  /** Prompt-cache reads; absent where the provider has no discount (they bill at the input rate). */
  cachedInputMicroUsdPerMillion?: number
  /** Prompt-cache writes (Anthropic's 5-minute writes); absent where writes bill at the input rate. */
  cacheWriteMicroUsdPerMillion?: number
  /** Above this many prompt tokens the whole request bills at `longContext` rates (Gemini Pro's 200k tier). */
  longContext?: { aboveTokens: number; price: Omit<ModelPrice, 'longContext'> }
}

const usd = (dollarsPerMillion: string): number => {
  const [whole, fraction = ''] = dollarsPerMillion.split('.')
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0'))
}
const price = (input: string, output: string, cachedInput?: string, cacheWrite?: string): ModelPrice => ({
  inputMicroUsdPerMillion: usd(input),
  outputMicroUsdPerMillion: usd(output),
  ...(cachedInput === undefined ? {} : { cachedInputMicroUsdPerMillion: usd(cachedInput) }),
  ...(cacheWrite === undefined ? {} : { cacheWriteMicroUsdPerMillion: usd(cacheWrite) }),
})
const embedding = (input: string): ModelPrice => price(input, '0')

/** Keys are 'provider/model' with the provider's own model id (dated Anthropic snapshots map to their base id). */
export const PRICES: Readonly<Record<string, ModelPrice>> = {
  // OpenAI: platform.openai.com/docs/pricing (standard tier), as bundled in @pydantic/genai-prices 0.1.8.
  'openai/gpt-5': price('1.25', '10', '0.125'),
  'openai/gpt-5-mini': price('0.25', '2', '0.025'),
  'openai/gpt-5-nano': price('0.05', '0.4', '0.005'),
  'openai/gpt-4.1': price('2', '8', '0.5'),
  'openai/gpt-4.1-mini': price('0.4', '1.6', '0.1'),
  'openai/gpt-4o': price('2.5', '10', '1.25'),
  'openai/gpt-4o-mini': price('0.15', '0.6', '0.075'),
  'openai/o3': price('2', '8', '0.5'),
  'openai/o4-mini': price('1.1', '4.4', '0.275'),
  'openai/text-embedding-3-small': embedding('0.02'),
  'openai/text-embedding-3-large': embedding('0.13'),

  // Anthropic: docs.anthropic.com/en/docs/about-claude/pricing (base input, 5-minute cache write, cache hit,
  // output) via @pydantic/genai-prices 0.1.8; Fable 5, Opus 4.8 and Haiku 4.5 cross-checked against
  // published rate cards; Sonnet 5 at its standard $3/$15 (the $2/$10 introductory price ended 2026-08-31).
  // Not priced (no figure we could confirm): claude-fable-5-2, claude-haiku-5-5, claude-sonnet-5-5.
  'anthropic/claude-fable-5-1': price('10', '50', '0.25', '12.5'),
  'anthropic/claude-opus-5-5': price('4', '20', '0.2', '5'),
  'anthropic/claude-fable-5': price('10', '50', '1', '12.5'),
  'anthropic/claude-opus-5': price('5', '25', '0.5', '6.25'),
  'anthropic/claude-sonnet-5': price('3', '15', '0.3', '3.75'),
  'anthropic/claude-opus-4-8': price('5', '25', '0.5', '6.25'),
  'anthropic/claude-opus-4-7': price('5', '25', '0.5', '6.25'),
  'anthropic/claude-opus-4-6': price('5', '25', '0.5', '6.25'),
  'anthropic/claude-sonnet-4-6': price('3', '15', '0.3', '3.75'),
  'anthropic/claude-haiku-4-5': price('1', '5', '0.1', '1.25'),

  // Gemini: ai.google.dev/gemini-api/docs/pricing (paid tier, text) via @pydantic/genai-prices 0.1.8.
  'gemini/gemini-3.8-flash': price('0.75', '3.75', '0.075'),
  'gemini/gemini-3.7-flash': price('0.75', '3.75', '0.075'),
  'gemini/gemini-3.6-flash': price('0.75', '3.75', '0.075'),
  'gemini/gemini-3.5-flash': price('1.5', '9', '0.15'),
  'gemini/gemini-3.5-flash-lite': price('0.3', '2.5', '0.03'),
  'gemini/gemini-3.1-pro-preview': { ...price('2', '12', '0.2'), longContext: { aboveTokens: 200_000, price: price('4', '18', '0.4') } },
  'gemini/gemini-3.1-flash-lite': price('0.25', '1.5', '0.025'),
  'gemini/gemini-3-flash-preview': price('0.5', '3', '0.05'),
  'gemini/gemini-2.5-pro': { ...price('1.25', '10', '0.125'), longContext: { aboveTokens: 200_000, price: price('2.5', '15', '0.25') } },
  'gemini/gemini-2.5-flash': price('0.3', '2.5', '0.03'),
  'gemini/gemini-2.5-flash-lite': price('0.1', '0.4', '0.01'),
  'gemini/gemini-embedding-001': embedding('0.15'),

  // Cohere: cohere.com/pricing via @pydantic/genai-prices 0.1.8 (no prompt-cache discount). Embed 3 models at
  // Cohere's single "Embed 3" price. Not priced: command-a-plus-05-2026, command-a-reasoning-08-2025 and
  // command-a-vision-07-2025 (sold through sales, no public per-token price found).
  'cohere/command-a-03-2025': price('2.5', '10'),
  'cohere/command-r-plus-08-2024': price('2.5', '10'),
  'cohere/command-r-08-2024': price('0.15', '0.6'),
  'cohere/command-r7b-12-2024': price('0.0375', '0.15'),
  'cohere/embed-v4.0': embedding('0.12'),
  'cohere/embed-english-v3.0': embedding('0.1'),
  'cohere/embed-multilingual-v3.0': embedding('0.1'),
  'cohere/embed-english-light-v3.0': embedding('0.1'),
  'cohere/embed-multilingual-light-v3.0': embedding('0.1'),

  // Mistral: mistral.ai/pricing, the models the -latest aliases point to in 2026 (Large 3, Medium 3.5, Small 4,
  // Ministral 3, Devstral 2), from published rate cards; the package has Large 2's price under mistral-large.
  // Not priced: voxtral-mini-latest (billed per audio minute) and codestral-embed (no price found).
  'mistral/mistral-large-latest': price('0.5', '1.5'),
  'mistral/mistral-medium-latest': price('1.5', '7.5', '0.15'),
  'mistral/mistral-small-latest': price('0.1', '0.3'),
  'mistral/ministral-14b-latest': price('0.2', '0.2'),
  'mistral/ministral-8b-latest': price('0.15', '0.15', '0.015'),
  'mistral/ministral-3b-latest': price('0.1', '0.1'),
  'mistral/codestral-latest': price('0.3', '0.9'),
  'mistral/devstral-medium-latest': price('0.4', '2'),
  'mistral/devstral-small-latest': price('0.1', '0.3'),
  'mistral/pixtral-large-latest': price('2', '6'),
  'mistral/voxtral-small-latest': price('0.1', '0.4', '0.01'),
  'mistral/mistral-embed': embedding('0.1'),
}

/** The table's price for 'provider/model'; a dated snapshot ('claude-haiku-4-5-20251001') falls back to its base id. */
export function lookupPrice(model: string): ModelPrice | undefined {
  const base = model.replace(/-\d{8}$/, '')
  if (Object.hasOwn(PRICES, model)) return PRICES[model]
  return Object.hasOwn(PRICES, base) ? PRICES[base] : undefined
}
