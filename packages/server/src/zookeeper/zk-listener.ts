/**
 * The ZooKeeper-protocol port (`--zookeeper-listen`, docs/zookeeper-compatibility.md): each TCP
 * connection becomes a ZooKeeperChannel under the gateway's ClientConnection, so ZooKeeper
 * clients share sessions, watches and limits with WebSocket ones. A connection whose first four
 * bytes are a four-letter word (`ruok`, `srvr`, `stat`, `mntr`, `conf`, `envi`, `isro`) gets the
 * word's text answer and is closed, as ZooKeeper does.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { handshakeTimeoutMs } from '@vigil/protocol';
import type { HostPort } from '../config/host-port.js';
import type { ClientGateway } from '../gateway/client-gateway.js';
import type { Logger } from '../node/logger.js';
import { verifiedClientName, type TlsCredentials } from '../tls/tls-credentials.js';
import { newZooKeeperCounters, ZooKeeperChannel, type ZooKeeperCounters } from './zk-channel.js';

/** The ZooKeeper release whose protocol and features this port serves (addWatch, whoAmI: 3.6 to 3.9). */
export const zooKeeperVersion = '3.9.0-vigil';

/** What the four-letter words report about this member, read when one is asked. */
export interface ZooKeeperStatus {
  /** ZooKeeper's mode names; null while the member knows no leader (then it "is not currently serving requests"). */
  readonly mode: 'leader' | 'follower' | 'observer' | null;
  readonly zxid: number;
  readonly nodeCount: number;
  readonly watchCount: number;
  readonly ephemeralsCount: number;
  readonly followers: number;
  readonly syncedFollowers: number;
  /** `conf`'s lines: the member's settings under ZooKeeper's names. */
  readonly conf: Readonly<Record<string, string | number>>;
}

export interface ZooKeeperListenerOptions {
  readonly gateway: ClientGateway;
  readonly logger: Logger;
  readonly status: () => ZooKeeperStatus;
  /**
   * The member's TLS credentials: the port then speaks TLS, as ZooKeeper's secureClientPort does
   * (a client certificate of the cluster's CA authenticates its CN, as on the client port).
   */
  readonly tls?: TlsCredentials;
  /**
   * The four-letter words answered; the others get ZooKeeper's "not in the whitelist". A member
   * run with `--auth` answers `ruok`, `isro` and `srvr` only, as its `/status` needs an identity
   * (ZooKeeper's own default list is `srvr`).
   */
  readonly words: ReadonlySet<string>;
}

/** Every four-letter word served. */
export const allFourLetterWords: ReadonlySet<string> = new Set(['ruok', 'srvr', 'stat', 'mntr', 'conf', 'envi', 'isro']);
/** Those a member run with `--auth` answers. */
export const openFourLetterWords: ReadonlySet<string> = new Set(['ruok', 'isro', 'srvr']);

/** Every word ZooKeeper knows: a connection that starts with one is answered as a word, not read as a client. */
const knownFourLetterWords = new Set(['ruok', 'srvr', 'stat', 'mntr', 'conf', 'envi', 'isro', 'cons', 'crst', 'srst', 'dump', 'wchs', 'wchc', 'wchp', 'dirs', 'gtmk', 'stmk', 'hash']);

export class ZooKeeperListener {
  readonly counters: ZooKeeperCounters = newZooKeeperCounters();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: ZooKeeperListenerOptions) {
    const { tls } = options;
    if (tls === undefined) this.server = createServer({ noDelay: true }, (socket) => this.onSocket(socket, null));
    else {
      const server = createTlsServer({ ...tls.contextOptions(), requestCert: true, rejectUnauthorized: false, handshakeTimeout: handshakeTimeoutMs }, (socket) => {
        socket.setNoDelay(true);
        this.onSocket(socket, verifiedClientName(socket));
      });
      tls.follow(server);
      this.server = server;
    }
  }

  async listen(address: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address();
    return typeof bound === 'object' && bound !== null ? { host: address.host, port: bound.port } : address;
  }

  /** Stops taking connections and ends those open (the gateway has told their connections why). */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onSocket(socket: Socket, certificateName: string | null): void {
    if (this.options.gateway.isClosed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    // The first four bytes say whether this is a client (a packet length) or a four-letter word.
    let first = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
    const onData = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk]);
      if (first.length < 4) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      const word = first.subarray(0, 4).toString('latin1');
      if (knownFourLetterWords.has(word)) {
        socket.end(this.answer(word));
        return;
      }
      const log = this.options.logger.child({ remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, protocol: 'zookeeper' });
      const channel = new ZooKeeperChannel(socket, this.counters, log, first);
      const connection = this.options.gateway.accept(channel, socket.remoteAddress, socket.remotePort, { certificateName, zookeeper: true });
      socket.on('close', () => this.options.gateway.forget(connection));
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('close', () => clearTimeout(timer));
  }

  /** A four-letter word's answer. */
  private answer(word: string): string {
    if (!this.options.words.has(word)) return `${word} is not executed because it is not in the whitelist.\n`;
    if (word === 'ruok') return 'imok';
    if (word === 'isro') return 'rw';
    const s = this.options.status();
    if (word === 'conf') return Object.entries(s.conf).map(([k, v]) => `${k}=${v}\n`).join('');
    if (word === 'envi') return `Environment:\nzookeeper.version=${zooKeeperVersion}, built on Node.js ${process.version}\nhost.name=${hostname()}\nos.name=${process.platform}\nuser.dir=${process.cwd()}\n`;
    if (!['srvr', 'stat', 'mntr'].includes(word)) return `${word} is not executed because it is not served here.\n`;
    if (s.mode === null) return 'This ZooKeeper instance is not currently serving requests\n';
    const connections = this.sockets.size;
    const { outstanding, latency } = this.counters;
    // As ZooKeeper prints them: whole milliseconds for min and max, the average to four places; 0 before any request.
    const [min, avg, max] = latency.count === 0 ? [0, 0, 0] : [Math.round(latency.minMs), Number((latency.totalMs / latency.count).toFixed(4)), Math.round(latency.maxMs)];
    if (word === 'mntr') {
      const lines: [string, string | number][] = [
        ['zk_version', zooKeeperVersion],
        ['zk_server_state', s.mode],
        ['zk_avg_latency', avg],
        ['zk_max_latency', max],
        ['zk_min_latency', min],
        ['zk_packets_received', this.counters.received],
        ['zk_packets_sent', this.counters.sent],
        ['zk_num_alive_connections', connections],
        ['zk_outstanding_requests', outstanding],
        ['zk_znode_count', s.nodeCount],
        ['zk_watch_count', s.watchCount],
        ['zk_ephemerals_count', s.ephemeralsCount],
        ['zk_last_zxid', s.zxid],
        ...(s.mode === 'leader' ? ([['zk_followers', s.followers], ['zk_synced_followers', s.syncedFollowers], ['zk_pending_syncs', 0]] as [string, number][]) : []),
      ];
      return lines.map(([k, v]) => `${k}\t${v}\n`).join('');
    }
    const summary = [
      `Latency min/avg/max: ${min}/${avg}/${max}`,
      `Received: ${this.counters.received}`,
      `Sent: ${this.counters.sent}`,
      `Connections: ${connections}`,
      `Outstanding: ${outstanding}`,
      `Zxid: 0x${s.zxid.toString(16)}`,
      `Mode: ${s.mode}`,
      `Node count: ${s.nodeCount}`,
    ].join('\n');
    const version = `Zookeeper version: ${zooKeeperVersion}, built on Node.js ${process.version}\n`;
    if (word === 'srvr') return `${version}${summary}\n`;
    const clients = [...this.sockets].map((c) => ` /${c.remoteAddress ?? '?'}:${c.remotePort ?? 0}[1](queued=0,recved=0,sent=0)\n`).join('');
    return `${version}Clients:\n${clients}\n${summary}\n`;
  }
}
