import { isVigilError, VigilError, type Stat, type VigilClient } from '@vigil/client';

/** children() calls in flight at once while walking a tree. */
export const walkConcurrencyMax = 16;
/** Nodes a walk visits at most (`tree`, `ls -R`, `deleteall`); the rest is reported as cut off. */
export const walkNodesMax = 100_000;

export interface TreeNode {
  readonly path: string;
  readonly name: string;
  readonly stat: Stat;
  readonly children: TreeNode[];
}

export interface Walk {
  readonly root: TreeNode;
  readonly nodes: number;
  /** Some nodes were not visited: `depthMax` or `nodesMax` was reached. */
  readonly truncated: boolean;
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/**
 * The subtree at `path`, level by level, a bounded number of listings at a time. Listings come
 * with the children's stats, so leaves cost nothing more. Nodes deleted during the walk are left
 * out. Not a snapshot: nodes change while it runs (every listing is linearizable on its own).
 */
export async function walkTree(
  client: VigilClient,
  path: string,
  options: { readonly signal: AbortSignal; readonly depthMax?: number; readonly nodesMax?: number },
): Promise<Walk> {
  const nodesMax = options.nodesMax ?? walkNodesMax;
  const depthMax = options.depthMax ?? Infinity;
  const stat = await client.exists(path, { signal: options.signal });
  if (stat === null) throw new VigilError('NO_NODE', 'the node does not exist', { path });
  const root: TreeNode = { path, name: path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1), stat, children: [] };
  let nodes = 1;
  let truncated = false;
  let level: TreeNode[] = [root];
  for (let depth = 0; level.length > 0; depth++) {
    const parents = level.filter((n) => n.stat.numChildren > 0);
    if (parents.length > 0 && depth >= depthMax) {
      truncated = true;
      break;
    }
    const next: TreeNode[] = [];
    await forEachLimited(parents, walkConcurrencyMax, async (parent) => {
      if (nodes >= nodesMax) {
        truncated = true;
        return;
      }
      let listing;
      try {
        listing = await client.children(parent.path, { withStats: true, signal: options.signal });
      } catch (err) {
        if (isVigilError(err) && err.code === 'NO_NODE') return;
        throw err;
      }
      listing.names.forEach((name, i) => {
        if (nodes >= nodesMax) {
          truncated = true;
          return;
        }
        const child: TreeNode = { path: childPath(parent.path, name), name, stat: listing.stats![i]!, children: [] };
        parent.children.push(child);
        next.push(child);
        nodes++;
      });
      // Listings of different parents finish in any order; keep each parent's children sorted.
      parent.children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
    level = next;
  }
  return { root, nodes, truncated };
}

/** Every node of the walk, parents before children, siblings in order. */
export function* preOrder(node: TreeNode): Generator<TreeNode> {
  yield node;
  for (const child of node.children) yield* preOrder(child);
}

/** Runs `fn` over `items` with at most `limit` running at once; the first failure rejects. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
