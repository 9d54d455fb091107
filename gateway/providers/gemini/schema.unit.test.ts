import { describe, expect, it } from 'vitest'
import { toGeminiParameters } from './schema.ts'

describe('gemini: JSON Schema → function parameters', () => {
  it('inlines $defs, turns Optional[X] into nullable and keeps what the subset knows', () => {
    const schema = {
      type: 'object',
      $defs: { Address: { type: 'object', properties: { city: { type: 'string', minLength: 1 } }, required: ['city'], additionalProperties: false } },
      properties: {
        home: { $ref: '#/$defs/Address', description: 'Where they live' },
        nickname: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
        tags: { type: 'array', items: { type: 'string', format: 'uri' }, maxItems: 5, uniqueItems: true },
        level: { const: 'admin' },
        born: { type: 'string', format: 'date-time', examples: ['2000-01-01T00:00:00Z'] },
      },
      required: ['home', 'ghost'],
    }
    expect(toGeminiParameters(schema)).toEqual({
      parameters: {
        type: 'OBJECT',
        properties: {
          home: { type: 'OBJECT', description: 'Where they live', properties: { city: { type: 'STRING', minLength: 1 } }, required: ['city'] },
          nickname: { type: 'STRING', nullable: true, default: null },
          tags: { type: 'ARRAY', items: { type: 'STRING', description: '(format: uri)' }, maxItems: 5 },
          level: { type: 'STRING', enum: ['admin'] },
          born: { type: 'STRING', format: 'date-time', example: '2000-01-01T00:00:00Z' },
        },
        required: ['home'],
      },
    })
  })

  it('merges allOf and turns several types into anyOf', () => {
    const schema = {
      type: 'object',
      properties: {
        id: { type: ['string', 'integer'] },
        both: { allOf: [{ type: 'object', properties: { a: { type: 'number' } }, required: ['a'] }, { properties: { b: { type: 'boolean' } } }] },
        pick: { oneOf: [{ type: 'string' }, { type: 'number' }] },
      },
    }
    expect(toGeminiParameters(schema).parameters?.properties).toEqual({
      id: { anyOf: [{ type: 'STRING' }, { type: 'INTEGER' }] },
      both: { type: 'OBJECT', properties: { a: { type: 'NUMBER' }, b: { type: 'BOOLEAN' } }, required: ['a'] },
      pick: { anyOf: [{ type: 'STRING' }, { type: 'NUMBER' }] },
    })
  })

  it('sends what the subset cannot express as parametersJsonSchema, whole', () => {
    const freeForm = { $schema: 'x', type: 'object', properties: { meta: { type: 'object', additionalProperties: { type: 'string' } } } }
    expect(toGeminiParameters(freeForm)).toEqual({ parametersJsonSchema: { type: 'object', properties: freeForm.properties } })
    const recursive = { type: 'object', properties: { node: { $ref: '#/$defs/Node' } }, $defs: { Node: { type: 'object', properties: { next: { $ref: '#/$defs/Node' } } } } }
    expect(toGeminiParameters(recursive)).toEqual({ parametersJsonSchema: recursive })
    expect(toGeminiParameters({ type: 'object', additionalProperties: true })).toEqual({ parametersJsonSchema: { type: 'object', additionalProperties: true } })
  })

  it('declares no parameters for a tool that takes none', () => {
    expect(toGeminiParameters(undefined)).toEqual({})
    expect(toGeminiParameters({ type: 'object', properties: {}, additionalProperties: false })).toEqual({})
  })
})
