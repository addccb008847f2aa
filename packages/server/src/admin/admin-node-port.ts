import type { Readable } from 'node:stream';
import type { Role } from '@vigil/store';
import type { BackupHeader } from '../storage/backup-file.js';

/** The newest snapshot, opened for a download: its backup header and the snapshot file's bytes. */
export interface SnapshotDownload {
  readonly header: BackupHeader;
  /** Exactly `header.snapshotBytes` bytes; destroying it releases the file. */
  readonly body: Readable;
}

/** One member as the admin API shows it; `matchIndex` and `lag` are known only on the leader. */
export interface MemberStatus {
  readonly id: number;
  readonly role: 'voter' | 'learner';
  readonly peerAddress: string | null;
  readonly clientAddress: string | null;
  readonly matchIndex: number | null;
  /** Entries behind the leader's last log index. */
  readonly lag: number | null;
}

export interface NodeStatus {
  readonly id: number;
  readonly clusterId: string;
  readonly role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  readonly term: number;
  readonly leaderId: number | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  readonly firstLogIndex: number;
  readonly lastLogIndex: number;
  readonly members: readonly MemberStatus[];
  readonly dbSizeBytes: number;
  readonly uptimeMs: number;
}

/**
 * What the admin HTTP API needs from a node: a narrow port, implemented by the node and by a
 * fake in tests. Operational failures are `ServerError`s; their catalogue status becomes the
 * HTTP status.
 */
export interface AdminNodePort {
  status(): NodeStatus;
  /** Has a leader and has applied up to the commit index known at start. */
  isReady(): boolean;
  /** Adds the member as a learner; promote it once it has caught up. */
  addMember(input: { id: number; peerAddress: string; clientAddress?: string }): Promise<{ index: number }>;
  promoteMember(id: number): Promise<{ index: number }>;
  removeMember(id: number): Promise<{ index: number }>;
  /** Without `to`, the most caught-up voter. */
  transferLeadership(to?: number): Promise<{ leaderId: number }>;
  snapshotNow(): Promise<{ index: number }>;
  /** The newest snapshot, opened for reading; null before the first one. */
  openSnapshot(): Promise<SnapshotDownload | null>;
  /** The users table as this member has applied it: names and roles, never hashes. */
  users(): { readonly name: string; readonly roles: readonly Role[] }[];
  /** Hashes `secret` and adds the user (or replaces its secret and roles) through the log. */
  putUser(name: string, secret: string, roles: readonly Role[]): Promise<{ created: boolean; index: number }>;
  deleteUser(name: string): Promise<{ deleted: boolean; index: number }>;
}
