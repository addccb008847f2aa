// A client process for the recipe tests. It takes a lock (or campaigns) and reports on stdout,
// one JSON object per line, stamped with the machine's monotonic clock (`process.hrtime`, the same
// clock in every process), so that the test can compare intervals across processes.
//
//   node --import tsx recipe-worker.ts '<json options>'
//
// mode 'contend': `contenders` sessions each take `rounds` turns at the lock; each turn records
//   {e:'held', token, from, to} after a fenced write to `guard`.
// mode 'hold': one session takes the lock and keeps it, writing `guard` under its fence every
//   `everyMs` ({e:'wrote', ok, sent, revision}); it reports {e:'lost', reason} the first time a turn finds the
//   lease lost, then tries one more fenced write and reports its outcome ({e:'fenced', code}).
// mode 'lead': campaigns in the election at `path` and reports {e:'elected', token}; keeps leading.
import { connect, isVigilError, LeaderElection, Lock, type VigilClient } from '@vigil/client';

interface Options {
  readonly mode: 'contend' | 'hold' | 'lead';
  readonly endpoints: string[];
  readonly path: string;
  readonly guard: string;
  readonly sessionTimeoutMs: number;
  readonly contenders?: number;
  readonly rounds?: number;
  readonly everyMs?: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const now = (): string => process.hrtime.bigint().toString();
const say = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ ...event, at: now() })}\n`);
const codeOf = (err: unknown): string => (isVigilError(err) ? err.code : String(err));

async function open(): Promise<VigilClient> {
  return connect({ endpoints: o.endpoints, sessionTimeoutMs: o.sessionTimeoutMs });
}

if (o.mode === 'contend') {
  const clients = await Promise.all(Array.from({ length: o.contenders ?? 1 }, open));
  say({ e: 'ready' });
  await Promise.all(
    clients.map(async (client) => {
      const lock = new Lock(client, o.path);
      for (let i = 0; i < (o.rounds ?? 1); i++) {
        const lease = await lock.acquire({ timeoutMs: 60_000 });
        const from = now();
        await client.multi([lease.fence(), { op: 'set', path: o.guard, data: String(lease.token) }]);
        const to = now();
        await lease.release();
        say({ e: 'held', token: lease.token, from, to });
      }
    }),
  );
  say({ e: 'done' });
  await Promise.all(clients.map((c) => c.close()));
  process.exit(0);
} else if (o.mode === 'hold') {
  const client = await open();
  const lease = await new Lock(client, o.path).acquire();
  say({ e: 'acquired', token: lease.token, session: client.sessionId });
  const turn = async (): Promise<void> => {
    if (!lease.isHeld()) {
      say({ e: 'lost', reason: lease.lostReason, aborted: lease.signal.aborted });
      try {
        await client.multi([lease.fence(), { op: 'set', path: o.guard, data: `stale ${lease.token}` }]);
        say({ e: 'fenced', code: 'ok' });
      } catch (err) {
        say({ e: 'fenced', code: codeOf(err) });
      }
      return;
    }
    const sent = now();
    try {
      const [, set] = await client.multi([lease.fence(), { op: 'set', path: o.guard, data: String(lease.token) }]);
      say({ e: 'wrote', ok: true, sent, revision: set !== undefined && set.op === 'set' ? set.stat.mzxid : null });
    } catch (err) {
      say({ e: 'wrote', ok: false, sent, code: codeOf(err) });
    }
    setTimeout(() => void turn(), o.everyMs ?? 50);
  };
  lease.signal.addEventListener('abort', () => say({ e: 'signal', reason: lease.lostReason }));
  void turn();
  process.stdin.resume();
} else {
  const client = await open();
  const election = new LeaderElection(client, o.path, { id: `pid-${process.pid}` });
  const leadership = await election.campaign(`pid-${process.pid}`);
  say({ e: 'elected', token: leadership.token });
  process.stdin.resume();
}
