"""Shared by the Kazoo workers of test/zookeeper-kazoo.test.ts: a client that rides out a member
restart (it redials quickly and keeps retrying commands), and one-line JSON reports on stdout."""
import json
import sys

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

SESSION_TIMEOUT_S = 10.0


def report(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def connect(hosts, session_timeout_s=SESSION_TIMEOUT_S):
    retry = dict(max_tries=-1, delay=0.05, backoff=1, max_delay=0.5)
    client = KazooClient(hosts=hosts, timeout=session_timeout_s, connection_retry=retry,
                         command_retry=dict(max_tries=200, delay=0.05, backoff=1, max_delay=0.5))
    client.start(timeout=15)
    return client


def command_retry():
    return KazooRetry(max_tries=200, delay=0.05, backoff=1, max_delay=0.5)
