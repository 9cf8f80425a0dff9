import { parseConfig } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/problems.js';

const sandbox = (http: string) => `notifications: {type: sandbox}\nherald:\n  http: ${http}\n`;

describe('herald.http', () => {
  it('serves nothing unless listen is given', () => {
    const config = parseConfig('notifications: {type: sandbox}', { env: {} });
    expect(config.http).toEqual({
      listen: undefined,
      ingest: { enabled: false, tokenEnvVar: undefined, maxBodyBytes: 1024 * 1024 },
      metrics: false,
    });
  });

  it('serves metrics by default once it listens, and ingest only when enabled', () => {
    const config = parseConfig(sandbox('{listen: "127.0.0.1:9090"}'), { env: {} });
    expect(config.http.listen).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(config.http.metrics).toBe(true);
    expect(config.http.ingest.enabled).toBe(false);
  });

  it('reads every key, from the environment too', () => {
    const config = parseConfig(
      sandbox(
        '{listen: "${LISTEN}", metrics: "${METRICS}", ingest: {enabled: true, tokenEnvVar: HERALD_TOKEN, maxBodyBytes: 4096}}',
      ),
      { env: { LISTEN: '0.0.0.0:8080', METRICS: 'false' } },
    );
    expect(config.http).toEqual({
      listen: { host: '0.0.0.0', port: 8080 },
      ingest: { enabled: true, tokenEnvVar: 'HERALD_TOKEN', maxBodyBytes: 4096 },
      metrics: false,
    });
  });

  it('takes an IPv6 host in brackets and a host name', () => {
    expect(parseConfig(sandbox('{listen: "[::1]:9090"}'), { env: {} }).http.listen).toEqual({
      host: '::1',
      port: 9090,
    });
    expect(parseConfig(sandbox('{listen: "localhost:0"}'), { env: {} }).http.listen).toEqual({
      host: 'localhost',
      port: 0,
    });
  });

  it('treats an empty listen (an unset ${VAR:-}) as no server', () => {
    const config = parseConfig(sandbox('{listen: "${HERALD_LISTEN:-}"}'), { env: {} });
    expect(config.http.listen).toBeUndefined();
    expect(config.http.metrics).toBe(false);
  });

  it('names the key of an address that is not host:port', () => {
    expect(problemsOf(sandbox('{listen: "9090"}'))).toEqual([
      "herald.http.listen: expected host:port, e.g. 127.0.0.1:9090, got '9090'",
    ]);
    expect(problemsOf(sandbox('{listen: ":9090"}'))).toEqual([
      "herald.http.listen: expected host:port, e.g. 127.0.0.1:9090, got ':9090'",
    ]);
    expect(problemsOf(sandbox('{listen: "http://127.0.0.1:9090"}'))[0]).toMatch(
      /^herald\.http\.listen: expected host:port/,
    );
    expect(problemsOf(sandbox('{listen: "127.0.0.1:70000"}'))).toEqual([
      'herald.http.listen: expected a port from 0 to 65535',
    ]);
  });

  it('refuses ingest or metrics asked for without an address to serve them on', () => {
    expect(problemsOf(sandbox('{ingest: {enabled: true}, metrics: true}'))).toEqual([
      'herald.http.listen: is required when herald.http.ingest.enabled is true',
      'herald.http.listen: is required when herald.http.metrics is true',
    ]);
    // Turning them off without an address is fine.
    expect(parseConfig(sandbox('{metrics: false, ingest: {enabled: false}}'), { env: {} }).http.listen).toBeUndefined();
  });

  it('checks the ingest keys', () => {
    expect(
      problemsOf(
        sandbox('{listen: "127.0.0.1:1", ingest: {enabled: yes please, tokenEnvVar: "", maxBodyBytes: 10, extra: 1}}'),
      ),
    ).toEqual([
      "herald.http.ingest.enabled: expected a boolean, got 'yes please'",
      'herald.http.ingest.tokenEnvVar: expected a non-empty string',
      'herald.http.ingest.maxBodyBytes: expected number >= 1024, got 10',
      'herald.http.ingest.extra: unknown key',
    ]);
  });

  it('warns when ingest is open to the network without a token', () => {
    const open = parseConfig(sandbox('{listen: "0.0.0.0:9090", ingest: {enabled: true}}'), { env: {} });
    expect(open.warnings).toEqual([
      'herald.http.ingest has no tokenEnvVar: anyone who can reach 0.0.0.0:9090 can publish events',
    ]);
    const loopback = parseConfig(sandbox('{listen: "127.0.0.1:9090", ingest: {enabled: true}}'), { env: {} });
    expect(loopback.warnings).toEqual([]);
    const guarded = parseConfig(sandbox('{listen: "0.0.0.0:9090", ingest: {enabled: true, tokenEnvVar: T}}'), {
      env: {},
    });
    expect(guarded.warnings).toEqual([]);
  });

  it('names the variable, not its value, in that warning when listen comes from the environment', () => {
    const config = parseConfig(sandbox('{listen: "${HERALD_LISTEN}", ingest: {enabled: true}}'), {
      env: { HERALD_LISTEN: '10.1.2.3:9090' },
    });
    expect(config.warnings).toEqual([
      'herald.http.ingest has no tokenEnvVar: anyone who can reach herald.http.listen (the value of ${HERALD_LISTEN}, not shown) can publish events',
    ]);
  });
});
