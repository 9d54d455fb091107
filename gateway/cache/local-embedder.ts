import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import * as tokenizers from '@huggingface/tokenizers'
import { env, InferenceSession, Tensor } from 'onnxruntime-web'
import type { Embedder } from './embedder.ts'

/** The model files and where they come from: model/README.md. */
const MODEL_DIR = new URL('./model/', import.meta.url)
/** all-MiniLM-L6-v2 was trained on at most 256 word pieces, and sentence-transformers truncates there too. */
const MAX_TOKENS = 256
/** A long text's first tokens come from a prefix of this many characters, tokenized instead of the whole text. */
const PREFIX_CHARS = 4096

/**
 * The part of @huggingface/tokenizers used here. Its bundled types import their own files without extensions,
 * which TypeScript cannot resolve under nodenext, so they are restated.
 */
interface Tokenizer {
  encode(text: string): { ids: number[] }
}
const TokenizerFromJson = tokenizers.Tokenizer as unknown as new (tokenizerJson: object, tokenizerConfig: object) => Tokenizer

interface Model {
  tokenizer: Tokenizer
  session: InferenceSession
}

/**
 * all-MiniLM-L6-v2 (8-bit) in this process, on ONNX Runtime's WebAssembly build: no native addon and no
 * network. The model loads on the first `embed`, once per instance: ~1 s, and ~300 MB of RSS that
 * WebAssembly memory never returns. A run holds the event loop for its duration: ~15 ms for a short
 * prompt, ~200 ms at 256 tokens (test/bench/embedder.ts); texts of one call yield to it between runs.
 *
 * Each text runs on its own, never padded into a batch with others: the model quantizes activations
 * dynamically, with one scale per tensor, so in a padded batch each text's vector would depend on its
 * batch-mates (cosine ~0.97 to its own, measured) and a prompt would not always map to the same cache entry.
 * A batch tensor would be ~25% faster.
 */
export class LocalEmbedder implements Embedder {
  readonly id = 'local/all-minilm-l6-v2-q'
  readonly dimensions = 384
  #model: Promise<Model> | undefined

  async embed(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return []
    const { tokenizer, session } = await this.#load()
    const vectors: number[][] = []
    for (const text of texts) {
      const ids = tokenIds(tokenizer, text)
      const shape = [1, ids.length]
      const outputs = await session.run({
        input_ids: new Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), shape),
        attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
        token_type_ids: new Tensor('int64', new BigInt64Array(ids.length), shape),
      })
      const hidden = outputs.last_hidden_state
      if (hidden?.type !== 'float32') throw new Error(`unexpected model output: ${hidden?.type ?? 'none'}`)
      vectors.push(meanPooledUnit(hidden.data as Float32Array, ids.length, this.dimensions))
    }
    return vectors
  }

  /** Concurrent first calls share one load; a failed load is forgotten, so the next call tries again. */
  #load(): Promise<Model> {
    this.#model ??= loadModel().catch((error: unknown) => {
      this.#model = undefined
      throw error
    })
    return this.#model
  }
}

async function loadModel(): Promise<Model> {
  // The runtime's .mjs and .wasm named as file: URLs into node_modules, which it reads with fs, never fetch
  // (the unit test checks). In Node its default is the same place, found from its own script's URL: named
  // here so that nothing else (a bundler moving that script) can make it look elsewhere. One thread: no
  // worker threads competing with the gateway for its cores.
  const runtimeDir = pathToFileURL(createRequire(import.meta.url).resolve('onnxruntime-web'))
  env.wasm.numThreads = 1
  env.wasm.wasmPaths = {
    mjs: new URL('ort-wasm-simd-threaded.mjs', runtimeDir).href,
    wasm: new URL('ort-wasm-simd-threaded.wasm', runtimeDir).href,
  }
  const [tokenizerJson, modelBytes] = await Promise.all([
    readFile(new URL('tokenizer.json', MODEL_DIR), 'utf8'),
    readFile(new URL('all-minilm-l6-v2-q.onnx', MODEL_DIR)),
  ])
  const config = JSON.parse(tokenizerJson) as Record<string, unknown>
  // The file pads and truncates to 128 (the exporter's settings). This tokenizer ignores both today; they are
  // cleared so that one honouring them cannot change the vectors: one text per run needs no padding, and
  // truncation happens in tokenIds, at the model's 256.
  config.padding = null
  config.truncation = null
  const session = await InferenceSession.create(modelBytes, { executionProviders: ['wasm'] })
  return { tokenizer: new TokenizerFromJson(config, {}), session }
}

/** [CLS] word pieces [SEP], at most MAX_TOKENS, keeping [SEP] last as truncation in the model's training did. */
function tokenIds(tokenizer: Tokenizer, text: string): number[] {
  // Word pieces never cross a space, so a prefix cut at one has the whole text's first tokens: when it has
  // enough, the rest (a long document's, maybe megabytes) is never tokenized.
  const cut = text.length > PREFIX_CHARS ? text.lastIndexOf(' ', PREFIX_CHARS) : -1
  let ids = cut > 0 ? tokenizer.encode(text.slice(0, cut)).ids : []
  if (ids.length < MAX_TOKENS) ids = tokenizer.encode(text).ids
  if (ids.length <= MAX_TOKENS) return ids
  return [...ids.slice(0, MAX_TOKENS - 1), ids[ids.length - 1]!]
}

/**
 * The mean of the token vectors (all attended: a text runs alone, unpadded), scaled to unit length; the
 * division by the token count is left out, as the scaling removes it.
 */
function meanPooledUnit(hidden: Float32Array, tokens: number, dimensions: number): number[] {
  const sum = new Float64Array(dimensions)
  for (let t = 0; t < tokens; t++) {
    for (let d = 0; d < dimensions; d++) sum[d] = sum[d]! + hidden[t * dimensions + d]!
  }
  let squares = 0
  for (const x of sum) squares += x * x
  const norm = Math.sqrt(squares)
  return Array.from(sum, (x) => x / norm)
}
