"""Writer that runs under a file-size limit (RLIMIT_FSIZE), the portable stand-in for a full disk.

Prints ACK lines like the workload, then ``ERROR <type> <message>`` for the first failed write.
"""
from __future__ import annotations

import resource
import signal
import sys

from tests.reliability import workload as W

if __name__ == "__main__":
    path, limit = sys.argv[1], int(sys.argv[2])
    db, col = W.open_collection(path)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of dying
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    b = int(sys.argv[3])
    try:
        while b < 100_000:
            col.upsert(W.batch_ids(b), {"v": W.batch_vectors(b)}, payloads=W.batch_payloads(b))
            print(f"ACK {b}", flush=True)
            b += 1
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever was raised
        print(f"ERROR {type(exc).__module__}.{type(exc).__name__} {exc}", flush=True)
