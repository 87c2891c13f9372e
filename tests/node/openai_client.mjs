// Drives `brasa serve` with the official openai npm package: chat with and
// without streaming, n > 1, logprobs and an aborted stream.
// Usage: node openai_client.mjs BRASA_BINARY MODEL
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { freePort, waitHealthy } from './serve_fixture.mjs';
import OpenAI from 'openai';

const [binary, model] = process.argv.slice(2);

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line.split(' ')[1]);
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(binary, ['serve', '--model', model, '--port', String(port), '--threads', '2', '--kv-cache-memory', '64M',
                             '--api-key', 'sk-node'], { stdio: ['ignore', 'inherit', 'inherit'] });
let failed = false;
try {
  await waitHealthy(base, child, 60);
  const client = new OpenAI({ apiKey: 'sk-node', baseURL: `${base}/v1` });
  const served = (await client.models.list()).data[0].id;
  const messages = [{ role: 'user', content: 'Tell me a story.' }];

  // Non-streaming chat with n = 2 and logprobs.
  const completion = await client.chat.completions.create({
    model: served, messages, max_tokens: 12, n: 2, logprobs: true, top_logprobs: 3, seed: 7,
  });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices.length, 2);
  for (const [i, choice] of completion.choices.entries()) {
    assert.equal(choice.index, i);
    assert.equal(choice.message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(choice.finish_reason));
    const content = choice.logprobs.content;
    assert.ok(content.length > 0);
    assert.ok(content.length <= 12);
    for (const entry of content) {
      assert.ok(entry.logprob <= 0);
      assert.equal(entry.top_logprobs.length, 3);
      assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[2].logprob);
    }
  }
  assert.ok(completion.usage.completion_tokens > 0);

  // Streaming chat: role first, content deltas, finish reason, usage.
  const stream = await client.chat.completions.create({
    model: served, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let sawRole = false;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta.role) sawRole = true;
      if (choice.delta.content) text += choice.delta.content;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.ok(sawRole);
  assert.ok(finish === 'stop' || finish === 'length');
  assert.ok(usage);
  assert.ok(usage.completion_tokens > 0);

  // The same request without streaming gives the same greedy text.
  const whole = await client.chat.completions.create({ model: served, messages, max_tokens: 16, temperature: 0 });
  assert.equal(whole.choices[0].message.content, text);

  // Aborting a stream cancels its sequence on the server.
  const controller = new AbortController();
  const long = await client.chat.completions.create(
    { model: served, messages, max_tokens: 1900, ignore_eos: true, stream: true }, { signal: controller.signal });
  let seen = 0;
  try {
    for await (const _chunk of long) {
      if (++seen === 3) controller.abort();
    }
  } catch (error) {
    assert.ok(error.name === 'AbortError' || error.constructor.name === 'APIUserAbortError', String(error));
  }
  let running = 1;
  for (let i = 0; i < 100 && running !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    running = await metric(base, 'brasa_num_requests_running');
  }
  assert.equal(running, 0);
  assert.equal(await metric(base, 'brasa_kv_cache_blocks_used'), 0);

  // A wrong key is a 401 the client reports as AuthenticationError.
  const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${base}/v1` });
  await assert.rejects(wrong.models.list(), (error) => error.status === 401);
  console.log('openai client checks passed');
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) {
    console.error(`brasa serve exited with ${code} after SIGTERM`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
