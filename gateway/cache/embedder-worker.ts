import { parentPort } from 'node:worker_threads'
import { LocalEmbedder } from './local-embedder.ts'

/** The worker side of WorkerEmbedder: embeds each request's texts and answers with its id. */
const embedder = new LocalEmbedder()
parentPort?.on('message', (message: { id: number; texts: string[] }) => {
  embedder.embed(message.texts).then(
    (vectors) => parentPort?.postMessage({ id: message.id, vectors }),
    (error: unknown) => parentPort?.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
  )
})
