// A separate client process for session-lifetime tests: it connects, creates an ephemeral node,
// says `ready <sessionId>` on stdout, then reports every state change as `state <name>` until it
// is killed, paused or closed. Run as: node --import tsx session-holder.ts <timeoutMs> <path> <endpoint>...
import { connect } from '@vigil/client';

const [timeoutArg, path, ...endpoints] = process.argv.slice(2);
const client = await connect({ endpoints, sessionTimeoutMs: Number(timeoutArg), reopenAfterExpiry: false });
client.on('state', (state) => process.stdout.write(`state ${state}\n`));
await client.create(path as string, 'held', { mode: 'ephemeral' });
process.stdout.write(`ready ${client.sessionId}\n`);
process.stdin.resume();
process.stdin.on('end', () => void client.close().finally(() => process.exit(0)));
