import { readFile } from 'node:fs/promises';
import { ServerError } from '../errors.js';

/**
 * A backup is one member's newest snapshot file behind a one-line header:
 *
 *   VIGIL-BACKUP 1 {"clusterId":"vigil","memberId":1,"index":42,"term":3,"snapshotBytes":1234,"takenAt":"…"}\n
 *   <snapshotBytes bytes: the snapshot file as the member stores it (the server's snapshot envelope)>
 *
 * `GET /admin/snapshot` serves exactly this, so `curl -o` makes a backup as good as
 * `vigil snapshot save`. The header is text, so `head -1` tells what a file holds; the snapshot's
 * store chunks carry their own checksums and digest, verified when the backup is restored.
 */
export interface BackupHeader {
  readonly clusterId: string;
  /** The member whose snapshot this is. */
  readonly memberId: number;
  /** The last log index the snapshot covers (the store's applied index). */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  readonly snapshotBytes: number;
  /** When the snapshot file was written (ISO 8601). */
  readonly takenAt: string;
}

export const backupMagic = 'VIGIL-BACKUP 1 ';
/** The header line is a few small fields; anything longer is not a backup. */
export const backupHeaderBytesMax = 4096;

export function encodeBackupHeader(header: BackupHeader): Buffer {
  const line = Buffer.from(`${backupMagic}${JSON.stringify(header)}\n`, 'utf8');
  if (line.length > backupHeaderBytesMax) throw new ServerError('BACKUP_INVALID', `backup header of ${line.length} bytes exceeds ${backupHeaderBytesMax}`);
  return line;
}

/**
 * Parses the header at the start of `bytes` (at least the first `backupHeaderBytesMax` bytes of
 * the file, or all of it). Returns the header and its length in bytes, newline included.
 */
export function decodeBackupHeader(bytes: Uint8Array): { header: BackupHeader; headerBytes: number } {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, backupHeaderBytesMax));
  if (!head.subarray(0, backupMagic.length).equals(Buffer.from(backupMagic, 'latin1'))) {
    throw new ServerError('BACKUP_INVALID', `not a Vigil backup (it does not start with "${backupMagic.trim()}")`);
  }
  const newline = head.indexOf(0x0a);
  if (newline < 0) throw new ServerError('BACKUP_INVALID', `the backup header is not terminated within ${backupHeaderBytesMax} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(head.subarray(backupMagic.length, newline).toString('utf8'));
  } catch {
    throw new ServerError('BACKUP_INVALID', 'the backup header is not valid JSON');
  }
  const h = parsed as Partial<BackupHeader> | null;
  const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (h === null || typeof h !== 'object' || typeof h.clusterId !== 'string' || !count(h.memberId) || !count(h.index) || !count(h.term) || !count(h.snapshotBytes) || typeof h.takenAt !== 'string') {
    throw new ServerError('BACKUP_INVALID', 'the backup header lacks clusterId, memberId, index, term, snapshotBytes or takenAt');
  }
  return { header: h as BackupHeader, headerBytes: newline + 1 };
}

/** Reads a whole backup file: its header and the snapshot bytes, checking the length. */
export async function readBackupFile(path: string): Promise<{ header: BackupHeader; snapshot: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ServerError('BACKUP_INVALID', code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${(err as Error).message}`);
  }
  const { header, headerBytes } = decodeBackupHeader(bytes);
  const snapshot = bytes.subarray(headerBytes);
  if (snapshot.length !== header.snapshotBytes) {
    throw new ServerError('BACKUP_INVALID', `${path} is truncated or padded: ${snapshot.length} snapshot bytes where the header says ${header.snapshotBytes}`);
  }
  return { header, snapshot: new Uint8Array(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength) };
}
