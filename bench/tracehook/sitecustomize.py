"""Loaded by a server that ``bench/viewermemory.py`` starts (this directory on its
``PYTHONPATH``, ``BENCH_TRACEMALLOC`` set): SIGUSR1 starts ``tracemalloc``, SIGUSR2 writes a
snapshot to ``$BENCH_TRACEMALLOC/snap-N.bin``. Nothing else ever loads it."""

import os

_out = os.environ.get("BENCH_TRACEMALLOC")
if _out:
    import gc
    import signal
    import tracemalloc

    _taken = [0]

    def _start(*_: object) -> None:
        tracemalloc.start(16)

    def _snapshot(*_: object) -> None:
        gc.collect()
        _taken[0] += 1
        tracemalloc.take_snapshot().dump(os.path.join(_out, f"snap-{_taken[0]}.bin"))

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _snapshot)
