import { describe, expect, it } from 'vitest';
import { checkWatchStreams, watchCovers, type WatcherRecord, type WriteEvent } from '../src/index.js';

// A create of /w/a at r11 (with its parent's childrenChanged), two sets, a delete, a write elsewhere;
// revisions 12 and 15 went to other znodes, or to the set that timed out.
const writes: WriteEvent[] = [
  { path: '/w/a', kind: 'created', revision: 11, outcome: 'ok' },
  { path: '/w', kind: 'childrenChanged', revision: 11, outcome: 'ok' },
  { path: '/w/a', kind: 'dataChanged', revision: 13, outcome: 'ok' },
  { path: '/w/a', kind: 'dataChanged', revision: 14, outcome: 'ok' },
  { path: '/w/a', kind: 'deleted', revision: 16, outcome: 'ok' },
  { path: '/w', kind: 'childrenChanged', revision: 16, outcome: 'ok' },
  { path: '/x', kind: 'created', revision: 17, outcome: 'ok' },
  // A set that timed out: it may have happened, at a revision nobody knows.
  { path: '/w/a', kind: 'dataChanged', outcome: 'info' },
];

const recursive = (items: WatcherRecord['items'], startRevision = 10): WatcherRecord => ({ id: 'rec', path: '/w', recursive: true, startRevision, items });
const event = (path: string, kind: 'created' | 'deleted' | 'dataChanged' | 'childrenChanged', revision: number) => ({ path, kind, revision });

describe('checkWatchStreams: streams that keep their promises', () => {
  it('accepts a recursive watch that heard every change below it, and a plain one that heard its own path', () => {
    const report = checkWatchStreams({
      writes,
      watchers: [
        recursive([event('/w/a', 'created', 11), event('/w/a', 'dataChanged', 13), event('/w/a', 'dataChanged', 14), event('/w/a', 'deleted', 16)]),
        { id: 'plain', path: '/w', recursive: false, startRevision: 10, items: [event('/w', 'childrenChanged', 11), event('/w', 'childrenChanged', 16)] },
      ],
    });
    expect(report).toEqual({ valid: true, violations: [], eventsChecked: 6 });
  });

  it('excuses what a compacted marker owns up to, and promises nothing past the last event received', () => {
    const report = checkWatchStreams({ writes, watchers: [recursive([{ kind: 'compacted', floor: 13 }, event('/w/a', 'dataChanged', 14)])] });
    expect(report.valid).toBe(true);
  });

  it('lets a write of unknown outcome appear once, or not at all', () => {
    const withIt = [event('/w/a', 'created', 11), event('/w/a', 'dataChanged', 12), event('/w/a', 'dataChanged', 13), event('/w/a', 'dataChanged', 14)];
    expect(checkWatchStreams({ writes, watchers: [recursive(withIt)] }).valid).toBe(true);
    expect(checkWatchStreams({ writes, watchers: [recursive(withIt.filter((e) => e.revision !== 12))] }).valid).toBe(true);
  });
});

describe('checkWatchStreams: streams that break them', () => {
  const kinds = (items: WatcherRecord['items'], startRevision?: number) => checkWatchStreams({ writes, watchers: [recursive(items, startRevision)] }).violations.map((v) => v.kind);

  it('rejects revisions going back, and an event delivered twice', () => {
    expect(kinds([event('/w/a', 'created', 11), event('/w/a', 'dataChanged', 14), event('/w/a', 'dataChanged', 13)])).toEqual(['out-of-order']);
    expect(kinds([event('/w/a', 'created', 11), event('/w/a', 'created', 11)])).toEqual(['duplicate']);
  });

  it('rejects a gap before the last revision received', () => {
    const report = checkWatchStreams({ writes, watchers: [recursive([event('/w/a', 'created', 11), event('/w/a', 'dataChanged', 14)])] });
    expect(report.violations).toEqual([
      { watcher: 'rec', kind: 'gap', event: event('/w/a', 'dataChanged', 13), detail: 'dataChanged /w/a @r13: acknowledged, not delivered, though the stream reached r14' },
    ]);
  });

  it('rejects a gap the compacted floor does not cover', () => {
    expect(kinds([{ kind: 'compacted', floor: 11 }, event('/w/a', 'dataChanged', 14)])).toEqual(['gap']);
  });

  it('rejects an event no write made, and more events than unknown writes could explain', () => {
    expect(kinds([event('/w/a', 'created', 11), event('/w/b', 'created', 12)])).toEqual(['phantom']);
    expect(kinds([event('/w/a', 'created', 11), event('/w/a', 'deleted', 12)])).toEqual(['phantom']);
    const twice = checkWatchStreams({
      writes,
      watchers: [recursive([event('/w/a', 'dataChanged', 12)], 11), recursive([event('/w/a', 'dataChanged', 15)], 14)],
    });
    expect(twice.violations.map((v) => v.kind)).toEqual(['phantom', 'phantom']);
    expect(twice.violations[0]!.detail).toMatch(/only 1 writes of unknown outcome/);
  });

  it('rejects events the watch does not cover, and events from before its start', () => {
    expect(kinds([event('/w', 'childrenChanged', 11)])).toEqual(['outside-watch']);
    expect(kinds([event('/x', 'created', 17)])).toEqual(['outside-watch']);
    expect(kinds([event('/w/a', 'created', 11), event('/w/a', 'dataChanged', 12)], 11)).toEqual(['before-start']);
  });
});

describe('watchCovers', () => {
  it('follows docs/protocol.md §7: recursive watches hear the subtree without childrenChanged', () => {
    expect(watchCovers({ path: '/w', recursive: true }, '/w/a/b', 'dataChanged')).toBe(true);
    expect(watchCovers({ path: '/w', recursive: true }, '/wx', 'created')).toBe(false);
    expect(watchCovers({ path: '/w', recursive: true }, '/w', 'childrenChanged')).toBe(false);
    expect(watchCovers({ path: '/', recursive: true }, '/a', 'deleted')).toBe(true);
    expect(watchCovers({ path: '/w', recursive: false }, '/w', 'childrenChanged')).toBe(true);
    expect(watchCovers({ path: '/w', recursive: false }, '/w/a', 'created')).toBe(false);
  });
});
