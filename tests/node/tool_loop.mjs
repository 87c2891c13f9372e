// Runs the function-calling loop against `brasa serve` with the official openai
// npm package, streaming and not. A forced get_weather call comes back as
// tool_calls whose arguments validate against the tool's schema (ajv). The
// streamed call equals the whole one, and the follow-up with the tool result
// returns content. A json_schema response_format returns valid JSON.
// Usage: node tool_loop.mjs BRASA_BINARY MODEL
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { freePort, waitHealthy } from './serve_fixture.mjs';
import Ajv from 'ajv';
import OpenAI from 'openai';

const [binary, model] = process.argv.slice(2);

// maxLength keeps a random-weight model's constrained string short.
const weatherParameters = {
  type: 'object',
  properties: { location: { type: 'string', description: 'City name', maxLength: 12 } },
  required: ['location'],
};
const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: "Get today's weather in a city.", parameters: weatherParameters },
};
const question = [{ role: 'user', content: "What's the weather in London today?" }];
const ajv = new Ajv({ strict: false });
const validateWeather = ajv.compile(weatherParameters);

function checkWeatherCall(call) {
  assert.ok(call.id.startsWith('call_'), JSON.stringify(call));
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.ok(validateWeather(args), JSON.stringify(validateWeather.errors));
}

// Assembles content, tool calls and the finish reason from a chat stream.
async function collectStream(stream) {
  let content = '';
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      if (choice.delta.content) content += choice.delta.content;
      for (const delta of choice.delta.tool_calls ?? []) {
        if (delta.index === calls.length) {
          assert.ok(delta.id.startsWith('call_'), JSON.stringify(delta));
          assert.equal(delta.type, 'function');
          assert.equal(typeof delta.function.name, 'string');
          calls.push({ id: delta.id, type: 'function', function: { name: delta.function.name, arguments: '' } });
        }
        assert.ok(delta.index < calls.length, 'a delta for a call that never started');
        calls[delta.index].function.arguments += delta.function.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { content, calls, finish };
}

function followUp(served, call) {
  return {
    model: served,
    messages: [
      ...question,
      { role: 'assistant', content: '', tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ location: 'London', temperature_c: 14 }) },
    ],
    tools: [weatherTool],
    temperature: 0,
    max_tokens: 8,
  };
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(binary, ['serve', '--model', model, '--host', '127.0.0.1', '--port', String(port), '--threads', '2',
                             '--kv-cache-memory', '64M'], { stdio: ['ignore', 'inherit', 'inherit'] });
let failed = false;
try {
  await waitHealthy(base, child, 120);
  const client = new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, timeout: 300000 });
  const served = (await client.models.list()).data[0].id;

  const toolChoices = [{ type: 'function', function: { name: 'get_weather' } }, 'required'];
  for (const toolChoice of toolChoices) {
    const request = {
      model: served, messages: question, tools: [weatherTool], tool_choice: toolChoice, parallel_tool_calls: false,
      temperature: 0, seed: 11, max_tokens: 64,
    };

    // Non-streaming: the call, then the reply to the tool result.
    const whole = (await client.chat.completions.create(request)).choices[0];
    assert.equal(whole.finish_reason, 'tool_calls', JSON.stringify(whole));
    assert.equal(whole.message.tool_calls.length, 1);
    const call = whole.message.tool_calls[0];
    checkWeatherCall(call);
    const answer = (await client.chat.completions.create(followUp(served, call))).choices[0];
    assert.equal(typeof answer.message.content, 'string');
    assert.ok(['stop', 'length'].includes(answer.finish_reason), answer.finish_reason);

    // Streaming: the reassembled call equals the whole one except for its random id.
    const streamed = await collectStream(await client.chat.completions.create({ ...request, stream: true }));
    assert.equal(streamed.finish, 'tool_calls');
    assert.equal(streamed.content, '', 'call syntax leaked into content');
    assert.equal(streamed.calls.length, 1);
    checkWeatherCall(streamed.calls[0]);
    assert.deepEqual(streamed.calls[0].function, call.function);
    const streamedAnswer = await collectStream(
      await client.chat.completions.create({ ...followUp(served, streamed.calls[0]), stream: true }));
    assert.equal(typeof streamedAnswer.content, 'string');
    assert.equal(streamedAnswer.calls.length, 0);
    assert.ok(['stop', 'length'].includes(streamedAnswer.finish), streamedAnswer.finish);
  }

  // response_format json_schema: the content validates against the schema.
  const schema = {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 10 }, sunny: { type: 'boolean' } },
    required: ['city', 'sunny'],
    additionalProperties: false,
  };
  const validate = ajv.compile(schema);
  const structured = await client.chat.completions.create({
    model: served, messages: question, temperature: 0, max_tokens: 48,
    response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } },
  });
  assert.equal(structured.choices[0].finish_reason, 'stop');
  assert.ok(validate(JSON.parse(structured.choices[0].message.content)), JSON.stringify(validate.errors));

  // A tool_choice naming a function that is not in tools is a 400 naming the field.
  await assert.rejects(
    client.chat.completions.create({
      model: served, messages: question, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_time' } },
    }),
    (error) => error.status === 400 && error.param === 'tool_choice');
  console.log('tool loop checks passed');
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  child.kill('SIGTERM');
  const code = child.exitCode ?? await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) {
    console.error(`brasa serve exited with ${code} after SIGTERM`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
