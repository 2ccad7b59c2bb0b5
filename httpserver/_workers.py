"""`workers=N`: N OS processes serving one port, one node each.

The port is bound with SO_REUSEPORT by this process first (so port 0's
choice is shared), then by N-1 worker processes started with the "spawn"
method; the kernel spreads connections over them. Options travel by
pickle, so `loop` (and `access_log`, `ws_loop`) must be importable
module-level functions, and `ssl` must be given as a dict of file names.
"""

from __future__ import annotations

import multiprocessing
import ssl
from dataclasses import replace

import actors

from ._options import Options

__all__ = ["start_workers"]


def start_workers(options: Options, link: bool) -> actors.Pid:
    from ._listener import bind, spawn_listener

    if isinstance(options.ssl, ssl.SSLContext):
        raise TypeError("workers > 1 needs ssl given as a dict of file names, not an SSLContext")
    sockets = bind(options)
    chosen = replace(options, port=sockets[0].getsockname()[1], name=None)
    context = multiprocessing.get_context("spawn")
    workers = []
    try:
        for _ in range(options.workers - 1):
            worker = context.Process(target=_worker, args=(chosen,), daemon=True)
            worker.start()
            workers.append(worker)
    except BaseException:
        for worker in workers:
            worker.terminate()
        for sock in sockets:
            sock.close()
        raise
    pid = spawn_listener(options, sockets, link)
    from ._listener import _servers

    _servers[pid].workers = workers
    return pid


def _worker(options: Options) -> None:
    """A worker OS process: one node, one listener on the shared port."""
    actors.run(_worker_node, options)


async def _worker_node(options: Options) -> None:
    from ._listener import bind, spawn_listener

    listener = spawn_listener(options, bind(options), link=True)
    ref = actors.monitor(listener)
    await actors.receive(actors.Down(ref, listener, actors.ANY))
