import type { Stat } from '@vigil/client';

/** The stat as `name = value` lines, in ZooKeeper's order; times as ISO 8601, the owner in hex. */
export function statLines(stat: Stat): string[] {
  const rows: [string, string][] = [
    ['czxid', String(stat.czxid)],
    ['ctime', isoTime(stat.ctime)],
    ['mzxid', String(stat.mzxid)],
    ['mtime', isoTime(stat.mtime)],
    ['pzxid', String(stat.pzxid)],
    ['cversion', String(stat.cversion)],
    ['version', String(stat.version)],
    ['aversion', String(stat.aversion)],
    ['ephemeralOwner', sessionIdText(stat.ephemeralOwner)],
    ['dataLength', String(stat.dataLength)],
    ['numChildren', String(stat.numChildren)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)} = ${value}`);
}

/** Session ids read best in hex, as ZooKeeper prints them; 0 (no owner) stays 0x0. */
export function sessionIdText(id: number): string {
  return `0x${id.toString(16)}`;
}

export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}
