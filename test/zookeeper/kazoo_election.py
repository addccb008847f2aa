"""A candidate in Kazoo's Election recipe.

When elected it creates the ephemeral `<election>-leader` znode (a second leader at the same
time would find it there: a violation, exit 3), reports `elected`, and leads until a line `quit`
on stdin, when it closes its session (ending its candidacy at once) and exits. Killed instead,
its session ends when the server expires it.

Usage: kazoo_election.py <hosts> <election path> <candidate id> <session timeout s>
"""
import sys
import threading

from kazoo.exceptions import NodeExistsError

from kazoo_common import connect, report


def main():
    hosts, path, me, session_timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    client = connect(hosts, session_timeout_s)
    quit_requested = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        quit_requested.set()

    threading.Thread(target=read_stdin, daemon=True).start()

    def lead():
        try:
            client.create(path + "-leader", me.encode(), ephemeral=True)
        except NodeExistsError:
            holder, _ = client.get(path + "-leader")
            report(candidate=me, violation=f"elected while {holder.decode()} leads")
            sys.stdout.flush()
            client.stop()
            sys.exit(3)
        report(candidate=me, elected=True)
        quit_requested.wait()

    election = client.Election(path, me)
    runner = threading.Thread(target=election.run, args=(lead,), daemon=True)
    runner.start()
    report(candidate=me, ready=True)
    quit_requested.wait()
    client.stop()
    client.close()
    report(candidate=me, stopped=True)


if __name__ == "__main__":
    main()
