import type { ServerFrame } from '@vigil/protocol';
import type { Store } from '@vigil/store';
import { Authenticator } from '../src/security/authenticator.js';
import type { ChannelInput, ClientChannel, ConnectionRequest, GatewayServices, Outcome } from '../src/gateway/client-connection.js';
import { WatchHub } from '../src/gateway/watch-hub.js';
import { silentLogger } from '../src/node/logger.js';

/**
 * What a `ClientConnection` needs to run over one store in a test, without a node: the test
 * gives it the log (`link`), the session keeper and the read index, the rest is fixed here.
 */

/** A channel that keeps what the connection answers, by request id, and the frames it sends. */
export class RecordingChannel implements ClientChannel {
  input: ChannelInput | null = null;
  readonly answers = new Map<number, Outcome>();
  readonly frames: ServerFrame['t'][] = [];
  start(input: ChannelInput): void {
    this.input = input;
  }
  encodeResponse(id: number, _op: ConnectionRequest['op'] | undefined, outcome: Outcome): Uint8Array {
    this.answers.set(id, outcome);
    return new Uint8Array(1);
  }
  encodeFrame(frame: ServerFrame): Uint8Array {
    this.frames.push(frame.t);
    return new Uint8Array(1);
  }
  send(): void {}
  get bufferedAmount(): number {
    return 0;
  }
  close(): void {}
}

export function gatewayServices(store: Store, given: Pick<GatewayServices, 'link' | 'sessions' | 'linearizableRead'>): GatewayServices {
  return {
    nodeId: 1,
    store,
    ...given,
    watches: new WatchHub(),
    waitApplied: async () => undefined,
    leaderContact: () => ({ ok: true }),
    untilLeaderContact: async () => true,
    sessionTimeoutMsMin: 1_000,
    sessionTimeoutMsMax: 60_000,
    requestTimeoutMs: 10_000,
    catchUpTimeoutMs: 1_000,
    sessionSlots: { take: () => true, release: () => undefined, max: 10 },
    requestsPerSecond: 1_000,
    ephemeralsPerSessionMax: 10,
    watchesPerSessionMax: 10,
    authenticator: new Authenticator({ store, required: false, superuserHash: '' }),
    attach: () => undefined,
    detach: () => undefined,
    logger: silentLogger(),
  };
}
