import { randomFillSync } from 'node:crypto'

const RANDOM_PER_ID = 10
// Random bytes drawn in blocks: one call to the CSPRNG per 400 ids instead of one per id (every request makes two).
const random = Buffer.alloc(RANDOM_PER_ID * 400)
let used = random.length
const bytes = Buffer.alloc(16)

/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered ids keep index inserts
 * local and let an event id double as a rough timestamp; the randomness keeps them unique across processes.
 */
export function uuidv7(now: number = Date.now()): string {
  if (used + RANDOM_PER_ID > random.length) {
    randomFillSync(random)
    used = 0
  }
  random.copy(bytes, 6, used, used + RANDOM_PER_ID)
  used += RANDOM_PER_ID
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = 0x70 | (bytes[6]! & 0x0f)
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
