"""``seqcast docs serve``: the Great Expectations Data Docs over HTTP on 127.0.0.1."""

from __future__ import annotations

import argparse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535 (got {value}; 0 = any free port)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from seqcast.docs import DEFAULT_PORT

    p = sub.add_parser("docs", help="serve the Great Expectations Data Docs over HTTP")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="serve <data-dir>/gx/.../local_site on http://127.0.0.1:PORT (the links in the "
        "Prefect run page's data-docs artifact point here); Ctrl-C stops it",
    )
    serve.add_argument("--data-dir", default="data", help="data dir whose Data Docs to serve (default: ./data)")
    serve.add_argument("--port", type=_port, default=None,
                       help=f"port on 127.0.0.1 (default: $SEQCAST_DOCS_PORT or {DEFAULT_PORT}; 0 = any free port)")
    serve.add_argument("--cdn", action="store_true",
                       help="serve the pages as Great Expectations wrote them, styled from CDNs "
                       "(default: without CDN links, with a local stylesheet: works offline)")
    serve.set_defaults(handler=handle_serve)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def handle_serve(args: argparse.Namespace) -> int:
    import os

    from seqcast.docs import DEFAULT_PORT, make_server, site_root
    from seqcast.errors import InputError

    root = site_root(args.data_dir)
    if not (root / "index.html").is_file():
        raise InputError(f"no Data Docs under {root} yet: run `seqcast run --data-dir {args.data_dir}` first")
    port = args.port if args.port is not None else int(os.environ.get("SEQCAST_DOCS_PORT") or DEFAULT_PORT)
    try:
        server = make_server(args.data_dir, port, offline=not args.cdn)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    print(f"Data Docs of {root} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the way to stop it, not an error
        print("stopped")
    finally:
        server.server_close()
    return 0
