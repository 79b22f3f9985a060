/**
 * Configuration: defaults, file + environment precedence, precise errors naming the field,
 * a frozen result, docs/configuration.md covering every field, and a real process refusing
 * to start on a bad file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFields } from '../gateway/config-schema.ts';
import { ConfigError, envName, readConfigFile, resolveConfig } from '../gateway/config.ts';
import { spawnGateway } from './helpers/gateway.ts';

describe('gateway config', () => {
  it('applies defaults and freezes the result', () => {
    const config = resolveConfig({}, {});
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1', 'dev mode (no JWT keys) listens on loopback only');
    assert.equal(resolveConfig({ jwt: { secret: 's' } }, {}).host, '0.0.0.0');
    assert.equal(resolveConfig({ host: '0.0.0.0' }, {}).host, '0.0.0.0');
    assert.equal(config.limits.maxMessageBytes, 65_536);
    assert.equal(config.limits.outboundQueueBytes, 1_048_576);
    assert.equal(config.limits.roomsPerConnection, 128);
    assert.equal(config.limits.connectTimeoutMs, 10_000);
    assert.equal(config.perMessageDeflate, false);
    assert.equal(typeof config.node, 'string');
    assert.equal(config.redisUrl, undefined);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.limits));
    assert.throws(() => {
      (config.limits as { maxMessageBytes: number }).maxMessageBytes = 1;
    }, TypeError);
  });

  it('reads YAML, and MERIDIAN_* variables override the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meridian-config-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, 'port: 9000\nregion: eu-west1\nlimits:\n  publishBurst: 7\n  roomsPerConnection: 10\n');
    const config = resolveConfig(readConfigFile(file), {
      MERIDIAN_PORT: '9100',
      MERIDIAN_LIMITS_ROOMS_PER_CONNECTION: '20',
      MERIDIAN_JWT_SECRET: 's3cret',
      MERIDIAN_REDIS_URL: 'redis://127.0.0.1:6379',
      MERIDIAN_PER_MESSAGE_DEFLATE: 'true',
      MERIDIAN_PUBSUB_PROJECT: 'proj',
      MERIDIAN_PUBSUB_TOPIC: 'topic',
    });
    assert.equal(config.port, 9100);
    assert.equal(config.region, 'eu-west1');
    assert.equal(config.limits.publishBurst, 7);
    assert.equal(config.limits.roomsPerConnection, 20);
    assert.equal(config.jwt.secret, 's3cret');
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.perMessageDeflate, true);
    assert.equal(config.relay.pubsub.projectId, 'proj');
    assert.equal(config.relay.pubsub.topic, 'topic');
  });

  it('names the field in every validation error', () => {
    const cases: Array<[unknown, Record<string, string>, string]> = [
      [{ limits: { maxMessageBytes: 'x' } }, {}, 'config: limits.maxMessageBytes must be an integer ≥ 1, got "x"'],
      [{ limits: { maxMessageBytes: 0 } }, {}, 'config: limits.maxMessageBytes must be an integer ≥ 1, got 0'],
      [{ port: 1.5 }, {}, 'config: port must be an integer ≥ 0, got 1.5'],
      [{}, { MERIDIAN_PORT: 'eighty' }, 'config: port (from MERIDIAN_PORT) must be an integer ≥ 0, got "eighty"'],
      [{ limits: { maxMesageBytes: 1 } }, {}, 'config: unknown field limits.maxMesageBytes'],
      [{ limits: 5 }, {}, 'config: limits must be an object, got 5'],
      [{ logLevel: 'loud' }, {}, 'config: logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
      [{ redisUrl: 'not a url' }, {}, 'config: redisUrl must be redis://host:port, rediss://… or redis+cluster://host1:port1,host2:port2, got "<invalid redis url>"'],
      [{ redisUrl: 'redis+cluster://:pw@h1:7000,h2' }, {}, 'config: redisUrl must be redis://host:port, rediss://… or redis+cluster://host1:port1,host2:port2, got "redis+cluster://:***@h1:7000,h2"'],
      [{ perMessageDeflate: 'yes' }, {}, 'config: perMessageDeflate must be true or false, got "yes"'],
      [{ jwt: { secret: 'a', jwksUrl: 'https://x.example/jwks' } }, {}, 'config: jwt.secret and jwt.jwksUrl are exclusive: set one'],
      [{ presence: { ttlMs: 5000, refreshMs: 5000 } }, {}, 'config: presence.refreshMs must be below presence.ttlMs (5000), got 5000'],
      [{ relay: { pubsub: { projectId: 'p' } } }, {}, 'config: relay.pubsub.projectId and relay.pubsub.topic must be set together'],
      [{ relay: { pubsub: { projectId: 'p', topic: 't' }, digestIntervalMs: 60_000 } }, {}, 'config: relay.digestIntervalMs must be below presence.ttlMs (60000), got 60000'],
      [[1, 2], {}, 'config: the file must hold an object, got [1,2]'],
    ];
    for (const [input, env, message] of cases) {
      assert.throws(() => resolveConfig(input, env), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.message, message);
        return true;
      });
    }
  });

  it('never echoes a secret in an error', () => {
    assert.throws(() => resolveConfig({ jwt: { secret: 12345 } }, {}), /jwt\.secret must be a non-empty string, got <redacted>/);
  });

  it('docs/configuration.md documents every field with its environment variable', () => {
    const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    for (const field of configFields) {
      assert.ok(doc.includes(`| \`${field.path}\` | \`${envName(field)}\` |`), `${field.path} is not documented`);
    }
    for (const required of ['MERIDIAN_PORT', 'MERIDIAN_REGION', 'MERIDIAN_JWT_SECRET', 'MERIDIAN_API_KEY', 'MERIDIAN_REDIS_URL', 'MERIDIAN_PUBSUB_PROJECT', 'MERIDIAN_PUBSUB_TOPIC']) {
      assert.ok(configFields.some((f) => envName(f) === required), required);
    }
  });

  it('a gateway process with an invalid file exits 2 naming the field', async () => {
    const gw = await spawnGateway({ limits: { maxMessageBytes: 'x' } }, { waitHealthy: false });
    const exit = await gw.exited;
    assert.equal(exit.code, 2);
    assert.match(gw.output().stderr, /config: limits\.maxMessageBytes must be an integer ≥ 1, got "x"/);
  });
});

describe('gateway start failures', () => {
  it('a port already in use exits 1 with a clear message', async () => {
    const first = await spawnGateway({});
    try {
      const second = await spawnGateway({ port: first.port }, { waitHealthy: false });
      const exit = await second.exited;
      assert.equal(exit.code, 1);
      assert.match(second.output().stderr, /failed to start: .*EADDRINUSE/);
    } finally {
      first.signal('SIGTERM');
      await first.exited;
      await first.stop();
    }
  });
});
