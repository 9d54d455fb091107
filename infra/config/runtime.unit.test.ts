import { describe, expect, it } from 'vitest'

describe('the runtime', () => {
  it('is the Node.js 24 pinned in devDependencies, not the machine’s Node', () => {
    expect(process.versions.node.split('.')[0]).toBe('24')
  })
})
