"""A contender for Kazoo's Lock recipe: N rounds of acquire, check, release.

Inside the lock the worker moves a shared znode (`<lock>-state`) from "free" to "held:<id>:<round>"
and back, each time by a compare-and-set on the version it read. Two holders at once would find
the state not free, or lose a compare-and-set: the worker then reports a violation and exits 3.
Each round reports the state versions of its enter and leave; the test checks that the intervals
of all rounds of all workers are disjoint and consecutive.

Usage: kazoo_lock.py <hosts> <lock path> <worker id> <rounds>
"""
import sys
import time

from kazoo.exceptions import BadVersionError, ConnectionLoss, NodeExistsError, OperationTimeoutError, SessionExpiredError

from kazoo_common import connect, report

CAS_ATTEMPTS_MAX = 400


def cas(client, path, expected, new):
    """Set path from `expected` to `new`; the version after the write. A reply lost to a member's
    restart is retried: finding `new` (unique to this holder and round) means the write took."""
    for _ in range(CAS_ATTEMPTS_MAX):
        try:
            data, stat = client.get(path)
            value = data.decode()
            if value == new:
                return stat.version
            if value != expected:
                raise AssertionError(f"state is {value!r}, expected {expected!r}")
            return client.set(path, new.encode(), version=stat.version).version
        except BadVersionError:
            continue
        except (ConnectionLoss, OperationTimeoutError):
            time.sleep(0.05)
    raise AssertionError(f"no compare-and-set of {path} within {CAS_ATTEMPTS_MAX} attempts")


def main():
    hosts, lock_path, worker, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    state = lock_path + "-state"
    client = connect(hosts)
    client.ensure_path(lock_path)
    try:
        client.create(state, b"free")
    except NodeExistsError:  # another worker made it first
        pass
    lock = client.Lock(lock_path, worker)
    try:
        for i in range(rounds):
            if not lock.acquire(timeout=60):
                raise AssertionError("lock not acquired within 60 s")
            try:
                holder = f"held:{worker}:{i}"
                enter = cas(client, state, "free", holder)
                leave = cas(client, state, holder, "free")
                report(worker=worker, round=i, enter=enter, leave=leave)
            finally:
                lock.release()
    except AssertionError as err:
        report(worker=worker, violation=str(err))
        sys.exit(3)
    except SessionExpiredError as err:
        report(worker=worker, error=f"session expired: {err}")
        sys.exit(4)
    finally:
        client.stop()
        client.close()
    report(worker=worker, done=True)


if __name__ == "__main__":
    main()
