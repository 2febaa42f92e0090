"""`mpanel serve`: the web application under waitress, in one process or in several.

Waitress answers in threads of one process, and a request's Python work holds that process's
GIL: with eight Stripe deliveries in flight each waits for the others' turns (`mpanel bench
journey`, issue 27). With `--processes N` (default MPANEL_WEB_PROCESSES, 2) a parent opens the
listening socket and keeps N serving processes running on it (a killed one is started again with
backoff, stacks/keepalive.py, while the others go on answering); the kernel hands each new
connection to one of the processes waiting on the socket. The parent never closes the socket,
so a connection that arrives while a process is replaced waits in the backlog, not refused.
Nothing is shared in memory between requests (sessions are signed cookies, throttles and CSRF
state are in PostgreSQL), so which process answers makes no difference.
"""
from __future__ import annotations

import socket
import subprocess
import sys

from app.observe import logs
from app.settings import Settings, log_format, log_level

BACKLOG = 1024  # waitress's own default


def run(args) -> int:
    if args.listen_fd is not None:  # one of N, started by `serve_in_processes`
        return serve(args, sockets=[socket.socket(fileno=args.listen_fd)])
    if args.processes <= 1:
        return serve(args)
    return serve_in_processes(args)


def serve(args, sockets: list[socket.socket] | None = None) -> int:
    """This process answers, on `sockets` (inherited) or on its own listening socket."""
    from waitress import serve as waitress_serve

    from app import create_app

    settings = Settings.from_env()
    logs.configure("web", settings, level=log_level(), fmt=log_format())
    where = {"sockets": sockets} if sockets else {"host": args.host, "port": args.port}
    if not sockets:
        print(f"mpanel app on http://{args.host}:{args.port}", flush=True)
    # Waitress would strip X-Forwarded-* before the app sees them (it trusts no proxy of its own);
    # the app's own middleware (app/web/proxy.py) decides, from MPANEL_TRUSTED_PROXIES.
    waitress_serve(create_app(settings), threads=args.threads, ident="mpanel", clear_untrusted_proxy_headers=False,
                   **where)
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)  # SO_REUSEADDR, as waitress
    sock.setblocking(False)  # each process's event loop polls it; a lost race for a connection is EAGAIN
    return sock


def serving_process(args, sock: socket.socket, with_parent) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--threads", str(args.threads),
         "--listen-fd", str(sock.fileno())],
        pass_fds=(sock.fileno(),), preexec_fn=with_parent)


def serve_in_processes(args) -> int:
    from stacks.keepalive import KeepAlive, die_with_parent, stop_on_signal

    sock = listening_socket(args.host, args.port)
    keeper = KeepAlive(say=lambda line: print(f"mpanel serve: {line}", file=sys.stderr, flush=True))
    with_parent = die_with_parent()
    stopping = stop_on_signal()
    print(f"mpanel app on http://{args.host}:{args.port} ({args.processes} processes)", flush=True)
    try:
        for n in range(1, args.processes + 1):
            keeper.add(f"web process {n}", lambda: serving_process(args, sock, with_parent))
        while not stopping.is_set():
            keeper.check()
            stopping.wait(0.2)
    finally:
        keeper.stop(timeout=30)
        sock.close()
    return 0
