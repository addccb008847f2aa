import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * Apache Curator's own recipes (Debian's libcurator-recipes-java 5.4) as a ZooKeeper application
 * would run them, for test/zookeeper-curator.test.ts. Each mode reports JSON lines on stdout and
 * takes commands, a line each, on stdin.
 *
 * <pre>
 * mutex &lt;hosts&gt; &lt;path&gt; &lt;workers&gt; &lt;rounds&gt;
 *   InterProcessMutex: `workers` threads, each with a client (a session) of its own, take the lock
 *   `rounds` times. Inside, a thread moves `path-state` from "free" to "held:w:i" and back by
 *   compare-and-set; each round reports the versions of its enter and leave. Two holders at once
 *   would find the state not free or lose a compare-and-set: a violation, exit 3.
 * latch &lt;hosts&gt; &lt;path&gt; &lt;id&gt; &lt;sessionTimeoutMs&gt;
 *   One LeaderLatch candidate. Elected, it creates the ephemeral `path-leader` with its id (finding
 *   it there means two leaders: a violation) and reports elected; `quit` deletes that znode if it
 *   leads, then closes the latch and the client (its session ends at once); `server` reports the
 *   member its session is connected to.
 * cache &lt;hosts&gt; &lt;path&gt;
 *   CuratorCache (a persistent recursive watch) on path: each event as it comes; `server` reports
 *   the member the session is connected to; `dump` reports the cache's whole content.
 * </pre>
 */
public final class CuratorRecipes {
  private static final int CAS_ATTEMPTS_MAX = 400;

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "mutex" -> mutex(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
      case "latch" -> latch(args[1], args[2], args[3], Integer.parseInt(args[4]));
      case "cache" -> cache(args[1], args[2]);
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
  }

  private static CuratorFramework client(String hosts, int sessionTimeoutMs) throws InterruptedException {
    CuratorFramework client = CuratorFrameworkFactory.builder()
        .connectString(hosts)
        .sessionTimeoutMs(sessionTimeoutMs)
        .connectionTimeoutMs(10_000)
        .retryPolicy(new ExponentialBackoffRetry(50, 20, 1_000))
        .build();
    client.start();
    if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("no connection within 30 s");
    return client;
  }

  private static synchronized void report(String json) {
    System.out.println(json);
    System.out.flush();
  }

  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  // ---- mutex ----

  private static void mutex(String hosts, String path, int workers, int rounds) throws Exception {
    String state = path + "-state";
    List<Thread> threads = new ArrayList<>();
    boolean[] failed = new boolean[1];
    for (int w = 0; w < workers; w++) {
      String worker = "w" + w;
      Thread t = new Thread(() -> {
        try (CuratorFramework client = client(hosts, 10_000)) {
          try {
            client.create().creatingParentContainersIfNeeded().forPath(state, "free".getBytes(StandardCharsets.UTF_8));
          } catch (KeeperException.NodeExistsException e) {
            // another worker made it first
          }
          InterProcessMutex lock = new InterProcessMutex(client, path);
          for (int i = 0; i < rounds; i++) {
            if (!lock.acquire(60, TimeUnit.SECONDS)) throw new AssertionError("lock not acquired within 60 s");
            try {
              String holder = "held:" + worker + ":" + i;
              int enter = cas(client, state, "free", holder);
              int leave = cas(client, state, holder, "free");
              report("{\"worker\":" + quote(worker) + ",\"round\":" + i + ",\"enter\":" + enter + ",\"leave\":" + leave + "}");
            } finally {
              lock.release();
            }
          }
          report("{\"worker\":" + quote(worker) + ",\"done\":true}");
        } catch (AssertionError e) {
          report("{\"worker\":" + quote(worker) + ",\"violation\":" + quote(String.valueOf(e.getMessage())) + "}");
          failed[0] = true;
        } catch (Exception e) {
          report("{\"worker\":" + quote(worker) + ",\"error\":" + quote(e.toString()) + "}");
          failed[0] = true;
        }
      });
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) t.join();
    System.exit(failed[0] ? 3 : 0);
  }

  /**
   * Sets path from `expected` to `next`; the version after the write. Curator retries an operation
   * whose connection was lost, so a compare-and-set that took effect can come back BadVersion:
   * finding `next` (unique to this holder and round) means it took.
   */
  private static int cas(CuratorFramework client, String path, String expected, String next) throws Exception {
    for (int attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      Stat stat = new Stat();
      String value = new String(client.getData().storingStatIn(stat).forPath(path), StandardCharsets.UTF_8);
      if (value.equals(next)) return stat.getVersion();
      if (!value.equals(expected)) throw new AssertionError("state is '" + value + "', expected '" + expected + "'");
      try {
        return client.setData().withVersion(stat.getVersion()).forPath(path, next.getBytes(StandardCharsets.UTF_8)).getVersion();
      } catch (KeeperException.BadVersionException e) {
        // read again
      }
    }
    throw new AssertionError("no compare-and-set of " + path + " within " + CAS_ATTEMPTS_MAX + " attempts");
  }

  // ---- latch ----

  private static void latch(String hosts, String path, String id, int sessionTimeoutMs) throws Exception {
    CuratorFramework client = client(hosts, sessionTimeoutMs);
    String leaderNode = path + "-leader";
    LeaderLatch latch = new LeaderLatch(client, path, id);
    latch.addListener(new LeaderLatchListener() {
      @Override
      public void isLeader() {
        try {
          client.create().withMode(CreateMode.EPHEMERAL).forPath(leaderNode, id.getBytes(StandardCharsets.UTF_8));
          report("{\"candidate\":" + quote(id) + ",\"elected\":true}");
        } catch (KeeperException.NodeExistsException e) {
          report("{\"candidate\":" + quote(id) + ",\"violation\":\"elected while " + leaderNode + " exists\"}");
        } catch (Exception e) {
          report("{\"candidate\":" + quote(id) + ",\"error\":" + quote(e.toString()) + "}");
        }
      }

      @Override
      public void notLeader() {
        report("{\"candidate\":" + quote(id) + ",\"elected\":false}");
      }
    });
    latch.start();
    report("{\"candidate\":" + quote(id) + ",\"started\":true}");
    var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null;) {
      if (line.equals("quit")) break;
      if (line.equals("server")) reportServer(client);
    }
    // Its own marker goes first: the latch's close lets the next candidate in at once, and the
    // marker would otherwise stay until the session's close (that candidate would find it there).
    if (latch.hasLeadership()) client.delete().forPath(leaderNode);
    latch.close(LeaderLatch.CloseMode.SILENT);
    client.close();
    System.exit(0);
  }

  // ---- cache ----

  private static void cache(String hosts, String path) throws Exception {
    CuratorFramework client = client(hosts, 10_000);
    CuratorCache cache = CuratorCache.build(client, path);
    cache.listenable().addListener(CuratorCacheListener.builder()
        .forCreates((node) -> event("created", node))
        .forChanges((before, after) -> event("changed", after))
        .forDeletes((node) -> event("deleted", node))
        .forInitialized(() -> report("{\"initialized\":true}"))
        .build());
    cache.start();
    var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null;) {
      switch (line) {
        case "server" -> reportServer(client);
        case "dump" -> {
          Map<String, String> content = new TreeMap<>();
          cache.stream().forEach((node) -> content.put(node.getPath(), data(node)));
          report("{\"dump\":{" + content.entrySet().stream().map((e) -> quote(e.getKey()) + ":" + quote(e.getValue())).collect(Collectors.joining(",")) + "}}");
        }
        case "quit" -> {
          cache.close();
          client.close();
          System.exit(0);
        }
        default -> report("{\"error\":" + quote("unknown command " + line) + "}");
      }
    }
  }

  /** Reports the server the session is connected to: ZooKeeper#toString names it ("remoteserver:/127.0.0.1:2181"). */
  private static void reportServer(CuratorFramework client) throws Exception {
    String described = client.getZookeeperClient().getZooKeeper().toString();
    int at = described.indexOf("remoteserver:");
    String server = at < 0 ? "" : described.substring(at + "remoteserver:".length()).split(" ")[0];
    report("{\"server\":" + quote(server) + "}");
  }

  private static String data(ChildData node) {
    return node.getData() == null ? "" : new String(node.getData(), StandardCharsets.UTF_8);
  }

  private static void event(String type, ChildData node) {
    report("{\"event\":" + quote(type) + ",\"path\":" + quote(node.getPath()) + ",\"data\":" + quote(data(node)) + "}");
  }
}
