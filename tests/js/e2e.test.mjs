// provocapi through the official `openai` npm package.
// Run: PROVOCAPI_BASE_URL=http://127.0.0.1:8080/v1 PROVOCAPI_KEY=pk-prov-... node --test
// (tests/e2e/test_js.py starts a gateway and runs this file against it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { APIError, NotFoundError, BadRequestError } from 'openai';

const baseURL = process.env.PROVOCAPI_BASE_URL;
const apiKey = process.env.PROVOCAPI_KEY;
const CHAT_MODEL = process.env.PROVOCAPI_CHAT_MODEL ?? 'llama-3.1-8b-instruct';
const EMBED_MODEL = process.env.PROVOCAPI_EMBED_MODEL ?? 'bge-m3';
const EMBED_DIMS = Number(process.env.PROVOCAPI_EMBED_DIMS ?? '1024');

assert.ok(baseURL, 'PROVOCAPI_BASE_URL is not set');
assert.ok(apiKey, 'PROVOCAPI_KEY is not set');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });

// A stream that is left open after [DONE] hangs the SDK's iteration: bound it.
function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('streamed chat: content, usage last, iteration ends at [DONE]', async () => {
  const stream = await client.chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 16,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = await within(
    10_000,
    (async () => {
      const out = [];
      for await (const chunk of stream) out.push(chunk);
      return out;
    })(),
    'the streamed chat',
  );
  assert.ok(chunks.length >= 2, `only ${chunks.length} chunks`);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage && last.usage.completion_tokens > 0, 'no usage in the last chunk');
  const body = chunks.slice(0, -1);
  const content = body.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.ok(content.length > 0, 'no content');
  assert.equal(body[0].choices[0].delta.role, 'assistant');
  assert.ok(['stop', 'length'].includes(body.at(-1).choices[0].finish_reason));
  for (const c of chunks) {
    assert.equal(c.id, chunks[0].id);
    assert.equal(c.model, CHAT_MODEL);
  }
});

test('non-streaming chat with its request id', async () => {
  const { data, response, request_id } = await client.chat.completions
    .create({ model: CHAT_MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.ok(data.choices[0].message.content);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.ok(request_id ?? data._request_id ?? response.headers.get('x-request-id'));
});

test('logprobs: per token, streamed and not, the same values', async () => {
  const ask = {
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 5,
    logprobs: true,
    top_logprobs: 2,
    seed: 4,
  };
  const whole = await client.chat.completions.create(ask);
  const content = whole.choices[0].logprobs?.content ?? [];
  assert.equal(content.map((t) => t.token).join(''), whole.choices[0].message.content);
  for (const t of content) assert.equal(t.top_logprobs.length, 2);
  const stream = await client.chat.completions.create({ ...ask, stream: true });
  const streamed = await within(
    10_000,
    (async () => {
      const out = [];
      for await (const chunk of stream) out.push(...(chunk.choices[0]?.logprobs?.content ?? []));
      return out;
    })(),
    'the streamed logprobs',
  );
  assert.deepEqual(
    streamed.map((t) => [t.token, t.logprob]),
    content.map((t) => [t.token, t.logprob]),
  );
});

test('structured output: a json_schema answer parses and fits the schema', async () => {
  const completion = await client.chat.completions.parse({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: 'A city and its population.' }],
    max_tokens: 200,
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'city',
        strict: true,
        schema: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            population: { type: 'integer', minimum: 1000, maximum: 2000 },
            kind: { enum: ['town', 'metropolis'] },
          },
          required: ['name', 'population', 'kind'],
          additionalProperties: false,
        },
      },
    },
  });
  const value = JSON.parse(completion.choices[0].message.content);
  assert.equal(typeof value.name, 'string');
  assert.ok(value.population >= 1000 && value.population <= 2000);
  assert.ok(['town', 'metropolis'].includes(value.kind));
});

test('embeddings: base64 (the default) and float', async () => {
  const b64 = await client.embeddings.create({ model: EMBED_MODEL, input: ['one', 'two'] });
  assert.equal(b64.data.length, 2);
  for (const d of b64.data) {
    assert.equal(d.embedding.length, EMBED_DIMS);
    assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
  }
  const flt = await client.embeddings.create({
    model: EMBED_MODEL,
    input: 'one',
    encoding_format: 'float',
  });
  assert.equal(flt.data[0].embedding.length, EMBED_DIMS);
  // same input, same vector
  flt.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - b64.data[0].embedding[i]) < 1e-5));
});

test('unknown model is a NotFoundError with status 404', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model: 'no-such-model',
      messages: [{ role: 'user', content: 'Hi' }],
    }),
    (err) => {
      assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'model');
      return true;
    },
  );
});

test('a bad parameter is a BadRequestError naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model: CHAT_MODEL,
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 3,
    }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'temperature');
      return true;
    },
  );
});

test('model cards parse: list and retrieve keep the extra fields', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
    assert.equal(m.object, 'model');
    assert.equal(typeof m.context_length, 'number');
    assert.equal(typeof m.capabilities, 'object');
  }
  assert.ok(ids.includes(CHAT_MODEL));
  const m = await client.models.retrieve(CHAT_MODEL);
  assert.equal(m.id, CHAT_MODEL);
  assert.equal(typeof m.capabilities.tools, 'boolean');
  assert.ok(m.max_output_tokens > 0);
});

test('an API we do not serve is a NotFoundError saying what to use', async () => {
  await assert.rejects(client.responses.create({ model: CHAT_MODEL, input: 'Hi' }), (err) => {
    assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.code, 'api_not_provided');
    assert.match(err.message, /chat\/completions/);
    return true;
  });
});

test('an image content part is a BadRequestError naming it', async () => {
  const content = [
    { type: 'text', text: 'What is this?' },
    { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
  ];
  await assert.rejects(
    client.chat.completions.create({ model: CHAT_MODEL, messages: [{ role: 'user', content }] }),
    (err) => {
      assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.code, 'unsupported_content');
      assert.equal(err.param, 'messages[0].content[1].type');
      return true;
    },
  );
});

test('a mid-stream failure raises APIError', async () => {
  const stream = await client.chat.completions.create({
    model: CHAT_MODEL,
    messages: [{ role: 'user', content: 'story [sim:drop_after=2]' }],
    max_tokens: 20,
    stream: true,
  });
  await within(
    10_000,
    assert.rejects(
      (async () => {
        for await (const _ of stream) {
          /* drain */
        }
      })(),
      (err) => {
        assert.ok(err instanceof APIError, `got ${err?.constructor?.name}: ${err}`);
        return true;
      },
    ),
    'the failing stream',
  );
});

test('batch: upload a file, create a batch, poll it to completed, read its output', async () => {
  const lines = [0, 1, 2].map((i) =>
    JSON.stringify({
      custom_id: `js-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: CHAT_MODEL, messages: [{ role: 'user', content: `hi ${i}` }], max_tokens: 4 },
    }),
  );
  const file = await client.files.create({
    file: new File([lines.join('\n') + '\n'], 'js.jsonl', { type: 'application/jsonl' }),
    purpose: 'batch',
  });
  assert.equal(file.purpose, 'batch');
  const created = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  let batch = created;
  const deadline = Date.now() + 15_000;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    assert.ok(Date.now() < deadline, `batch still ${batch.status}`);
    await new Promise((r) => setTimeout(r, 100));
    batch = await client.batches.retrieve(created.id);
  }
  assert.equal(batch.status, 'completed');
  const text = await (await client.files.content(batch.output_file_id)).text();
  const ids = text.trim().split('\n').map((l) => JSON.parse(l).custom_id).sort();
  assert.deepEqual(ids, ['js-0', 'js-1', 'js-2']);
});
