import { anthropic } from './anthropic/index.ts'
import { cohere } from './cohere/index.ts'
import { gemini } from './gemini/index.ts'
import { mistral } from './mistral/index.ts'
import { openai } from './openai/index.ts'
import type { ProviderAdapter } from './types.ts'

/** Every provider the gateway can route to. */
export const ADAPTERS: readonly ProviderAdapter[] = [openai, anthropic, gemini, cohere, mistral]
