import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../src/backoff.js';
import { endpointUrl, resolveOptions } from '../src/options.js';

describe('options', () => {
  it('endpoints may be URLs or host:port; a missing path is the protocol path', () => {
    expect(endpointUrl('127.0.0.1:8181')).toBe('ws://127.0.0.1:8181/');
    expect(endpointUrl('ws://a.example:1')).toBe('ws://a.example:1/');
    expect(endpointUrl('wss://a.example/vigil')).toBe('wss://a.example/vigil');
  });

  it('fills in the documented defaults', () => {
    expect(resolveOptions({ endpoints: ['h:1'] })).toMatchObject({
      sessionTimeoutMs: 10_000,
      requestTimeoutMs: 10_000,
      connectTimeoutMs: 10_000,
      backoffBaseMs: 50,
      backoffMaxMs: 2_000,
      reopenAfterExpiry: true,
      namespace: '',
    });
  });

  it('refuses a backoff whose max is below its base', () => {
    expect(() => resolveOptions({ endpoints: ['h:1'], reconnectBackoff: { baseMs: 100, maxMs: 10 } })).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENTS' }));
  });
});

describe('tls', () => {
  it('makes host:port endpoints wss:// and keeps the TLS options', () => {
    const resolved = resolveOptions({ endpoints: ['h:1', 'wss://g:2'], tls: { ca: 'PEM', servername: 'vigil1' } });
    expect(resolved.endpoints).toEqual(['wss://h:1/', 'wss://g:2/']);
    expect(resolved.tls).toEqual({ ca: 'PEM', servername: 'vigil1' });
    expect(resolveOptions({ endpoints: ['h:1'] }).tls).toBeNull();
  });

  it('refuses a ws:// endpoint, a certificate without its key and a non-PEM value: BAD_ARGUMENTS', () => {
    const bad = expect.objectContaining({ code: 'BAD_ARGUMENTS' });
    expect(() => resolveOptions({ endpoints: ['ws://h:1'], tls: { ca: 'PEM' } })).toThrow(bad);
    expect(() => resolveOptions({ endpoints: ['h:1'], tls: { cert: 'PEM' } })).toThrow(bad);
    expect(() => resolveOptions({ endpoints: ['h:1'], tls: { ca: 42 as unknown as string } })).toThrow(bad);
  });
});

describe('reconnect backoff', () => {
  it('draws uniformly below min(max, base·2^attempt)', () => {
    const backoff = { baseMs: 50, maxMs: 2_000 };
    expect(backoffDelayMs(0, backoff, () => 0.999)).toBe(49);
    expect(backoffDelayMs(3, backoff, () => 0.5)).toBe(200);
    expect(backoffDelayMs(10, backoff, () => 0.999)).toBe(1_998);
    expect(backoffDelayMs(1_000, backoff, () => 0)).toBe(0);
  });
});
