export type WatchEventKind = 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';

/** One change caused by an applied entry; `revision` is that entry's index. */
export interface WatchEvent {
  readonly revision: number;
  readonly path: string;
  readonly kind: WatchEventKind;
}
