import { Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { partitionForKey } from './partitioner.ts'

describe('partitionForKey', () => {
  it('places every key in the partition Kafka’s default partitioner picks', () => {
    const kafkaPartitioner = Partitioners.DefaultPartitioner()
    const partitionMetadata = Array.from({ length: 12 }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'tenant_01J9ZQ', 'ünïcødé-tenant', ...Array.from({ length: 200 }, (_, i) => `t-${i * 7919}`)]
    for (const key of keys) {
      const expected = kafkaPartitioner({ topic: 't', partitionMetadata, message: { key, value: null } })
      expect(partitionForKey(key, 12), key).toBe(expected)
    }
  })

  it('spreads keys over all partitions', () => {
    const used = new Set(Array.from({ length: 300 }, (_, i) => partitionForKey(`tenant-${i}`, 6)))
    expect(used.size).toBe(6)
  })
})
