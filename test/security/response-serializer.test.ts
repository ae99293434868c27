import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parsesAsItEncodes, responseSerializerCompiler } from '../../src/security/response-serializer.js';

function serializer(schema: z.ZodType): (data: unknown) => string {
  return responseSerializerCompiler({ schema, method: 'GET', url: '/api/test', httpStatus: '200' });
}

const isoDate = z.codec(z.iso.datetime(), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});

describe('response serializer', () => {
  it('parses the schemas whose two directions agree, and encodes the others', () => {
    const item = z.object({ id: z.uuid(), title: z.string().max(10).trim(), tags: z.array(z.enum(['a', 'b'])), at: z.iso.datetime().nullable() });
    type Tree = { readonly name: string; readonly children: readonly Tree[] };
    const tree: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(tree) }));
    for (const schema of [
      item, z.array(item), z.object({ page: z.array(item), next: z.string().optional() }), z.union([item, z.null()]),
      z.discriminatedUnion('kind', [z.object({ kind: z.literal('a') }), z.object({ kind: z.literal('b'), n: z.int() })]),
      z.record(z.string(), z.number()), z.tuple([z.string()], z.number()), z.looseObject({ openapi: z.string() }),
      z.string().refine((s) => s.length > 0), tree, z.intersection(item, z.object({ extra: z.boolean() })), z.date(),
    ]) assert.equal(parsesAsItEncodes(schema), true, JSON.stringify(schema._zod.def.type));
    for (const schema of [
      z.object({ at: isoDate }), z.array(z.object({ n: z.string().transform((s) => s.length) })), z.object({ n: z.number().default(1) }),
      z.object({ n: z.number().catch(0) }), z.string().pipe(z.email()), z.object({ deep: z.array(z.union([z.string(), z.object({ at: isoDate })])) }),
      z.stringbool(), z.object({ n: z.number().prefault(1) }), z.object({ ok: z.success(z.string()) }),
    ]) assert.equal(parsesAsItEncodes(schema), false, JSON.stringify(schema._zod.def.type));
  });

  it('sends only the declared fields and refuses an answer that does not fit the schema', () => {
    const write = serializer(z.object({ id: z.string(), role: z.enum(['author', 'admin']), nested: z.object({ n: z.number() }) }));
    assert.equal(write({ id: 'x', role: 'admin', nested: { n: 1, secret: 's' }, passwordHash: '$argon2id$…' }), '{"id":"x","role":"admin","nested":{"n":1}}');
    for (const wrong of [{ id: 'x', role: 'root', nested: { n: 1 } }, { id: 1, role: 'admin', nested: { n: 1 } }, { role: 'admin', nested: { n: 1 } }, null, 'text']) {
      assert.throws(() => write(wrong), (err: unknown) => isResponseSerializationError(err), JSON.stringify(wrong));
    }
  });

  it('encodes a codec, as the route would answer with zod encode', () => {
    const write = serializer(z.object({ at: isoDate, tags: z.array(z.string()) }));
    assert.equal(write({ at: new Date('2026-01-02T03:04:05.000Z'), tags: ['a'], extra: 1 }), '{"at":"2026-01-02T03:04:05.000Z","tags":["a"]}');
    assert.throws(() => write({ at: 'not a date', tags: [] }), (err: unknown) => isResponseSerializationError(err));
  });

  it('gives the same bytes and the same refusals as encoding, over a corpus of answers', () => {
    const schema = z.object({
      id: z.uuid(), name: z.string().max(20), email: z.email().nullable(), score: z.number().int().min(0), tags: z.array(z.string()).max(3),
      kind: z.discriminatedUnion('type', [z.object({ type: z.literal('post'), title: z.string() }), z.object({ type: z.literal('comment'), body: z.string().optional() })]),
      meta: z.record(z.string(), z.union([z.string(), z.number(), z.null()])).optional(),
    });
    assert.equal(parsesAsItEncodes(schema), true);
    const write = serializer(schema);
    const good = { id: '7d3c5a8e-1f2b-4c3d-9e8f-0a1b2c3d4e5f', name: 'Ann', email: 'ann@example.com', score: 3, tags: ['a'], kind: { type: 'post', title: 't', x: 1 }, meta: { a: 1, b: null }, hidden: true };
    const corpus: unknown[] = [
      good, { ...good, email: null, meta: undefined }, { ...good, kind: { type: 'comment' } }, { ...good, score: -1 }, { ...good, score: 1.5 },
      { ...good, tags: ['a', 'b', 'c', 'd'] }, { ...good, name: 'x'.repeat(21) }, { ...good, email: 'not-mail' }, { ...good, kind: { type: 'other' } },
      { ...good, id: 'not-a-uuid' }, { ...good, meta: { a: {} } }, { ...good, kind: { type: 'post' } }, {}, [], 0,
      { ...good, ['__proto__']: { polluted: true } }, Object.assign(Object.create(null) as object, good),
    ];
    for (const data of corpus) {
      const encoded = z.safeEncode(schema, data as z.output<typeof schema>);
      let ours: string | Error;
      try {
        ours = write(data);
      } catch (err) {
        ours = err as Error;
      }
      if (encoded.success) assert.equal(ours, JSON.stringify(encoded.data), JSON.stringify(data));
      else assert.ok(isResponseSerializationError(ours), JSON.stringify(data));
    }
  });
});
