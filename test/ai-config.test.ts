/** The gateway's `ai` block: documented fields, keys from the environment, clear refusals. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { aiFields } from '../gateway/ai/config.ts';
import { ConfigError, resolveConfig } from '../gateway/config.ts';

const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');

test('every ai field is documented in docs/configuration.md', () => {
  for (const field of aiFields) assert.ok(doc.includes(`| \`ai.${field.path}\` |`), `ai.${field.path} is not documented`);
});

test('apiKeyEnv reads the key from the environment; the key is never shown in errors', () => {
  const config = resolveConfig({ ai: { providers: [{ name: 'openai', model: 'm', apiKeyEnv: 'MY_KEY' }] } }, { MY_KEY: 'sk-secret' });
  assert.equal(config.ai?.providers[0].apiKey, 'sk-secret');
  assert.ok(Object.isFrozen(config.ai?.providers[0]), 'frozen like the rest of the config');
  assert.throws(() => resolveConfig({ ai: { providers: [{ name: 'openai', model: 'm', apiKeyEnv: 'MISSING' }] } }, {}), (error: Error) => error instanceof ConfigError && /MISSING, which is not set/.test(error.message));
});

test('bad ai blocks are refused naming the field', () => {
  const refuse = (ai: unknown, pattern: RegExp) => assert.throws(() => resolveConfig({ ai }, {}), (error: Error) => error instanceof ConfigError && pattern.test(error.message));
  refuse({ providers: [{ name: 'openai', model: 'm', apiKeySecretRef: { name: 'x', key: 'y' } }] }, /apiKeySecretRef is for the RealtimeCluster/);
  refuse({ latencySloMs: -1 }, /ai.latencySloMs must be an integer ≥ 1/);
  refuse({ temperature: 1 }, /unknown field ai.temperature/);
  refuse({ providers: [{ name: 'local' }, { name: 'local' }] }, /lists local twice/);
  refuse({ moderation: [{ rooms: 'a b', mode: 'block' }] }, /ai.moderation\[0\].rooms must be a room pattern/);
  refuse({ providers: [{ name: 'gemini', apiKey: 'k' }] }, /ai.providers\[0\].model is required for gemini/);
});

test('without an ai block, AI is off', () => {
  assert.equal(resolveConfig({}, {}).ai, undefined);
});
