import type { Envelope } from '../../events/envelope.ts'
import { uuidv7 } from '../../events/ids.ts'

/** A minimal usage event for tests of the transport (publisher, spool, log): `data.seq` orders it. */
export function usageEvent(tenantId: string, seq: number): Envelope {
  return {
    id: uuidv7(),
    type: 'request.completed',
    version: 1,
    tenantId,
    occurredAt: new Date().toISOString(),
    correlationId: `req_${seq}`,
    causationId: null,
    actor: { type: 'key', id: 'key_1' },
    data: { seq },
  }
}

/** Polls `condition` until it holds, failing with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 45_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, stepMs))
  }
}
