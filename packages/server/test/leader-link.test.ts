import { describe, expect, test } from 'vitest';
import { silentLogger } from '../src/node/logger.js';
import { LeaderLink } from '../src/gateway/leader-link.js';
import { isServerError } from '../src/errors.js';

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isServerError(err)) return err.code;
    throw err;
  }
};

function link(sendRpc: () => boolean): LeaderLink {
  return new LeaderLink({
    selfId: 2,
    leader: () => 1,
    proposeLocal: () => Promise.reject(new Error('not the leader')),
    sendRpc,
    retryDelayMs: 1,
    leaderTimeoutMs: 1_000,
    logger: silentLogger(),
  });
}

describe('a forwarding member that stops', () => {
  test('fails writes already forwarded as outcome unknown, not as SHUTTING_DOWN', async () => {
    const l = link(() => true);
    const pending = codeOf(l.propose({ type: 'noop' }, AbortSignal.timeout(10_000)));
    l.close();
    expect(await pending).toBe('TIMEOUT');
  });

  test('refuses writes after it stopped with SHUTTING_DOWN: they were never sent', async () => {
    let sent = 0;
    const l = link(() => {
      sent++;
      return true;
    });
    l.close();
    expect(await codeOf(l.propose({ type: 'noop' }, AbortSignal.timeout(10_000)))).toBe('SHUTTING_DOWN');
    expect(sent).toBe(0);
  });
});
