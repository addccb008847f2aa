// The integration tests drive the same process harness as `npm start` and the benchmarks.
export { ProcessCluster as TestCluster, fetchJson, freePort, freePorts, vigilBin, waitFor } from '../../scripts/cluster/process-cluster.js';
export type { ClusterNode, NodeStatusJson } from '../../scripts/cluster/process-cluster.js';
