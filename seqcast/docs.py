"""The Great Expectations Data Docs over HTTP, readable offline.

Browsers refuse ``file://`` links from an ``http://`` page (the Prefect UI), and the
Data Docs load Bootstrap, jQuery and bootstrap-table from CDNs: offline the pages
render unstyled and the index's tables, filled by JavaScript, stay empty. ``serve``
publishes ``<data_dir>/gx/uncommitted/data_docs/local_site`` on 127.0.0.1 and, by
default, rewrites each page on the way out: the CDN tags are dropped, a small local
stylesheet replaces them, and the index gets a plain list of the validation results.

>>> url_for("data/gx/uncommitted/data_docs/local_site/index.html", "data", base="http://127.0.0.1:8765")
'http://127.0.0.1:8765/index.html'
"""

from __future__ import annotations

import functools
import html
import os
import re
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from seqcast.layout import DataDir

DEFAULT_PORT = 8765
HOST = "127.0.0.1"
OFFLINE_CSS = "/_seqcast/offline.css"

_CDN_TAG = re.compile(
    r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>|<link[^>]*\bhref=[\"']https?://[^>]*>",
    re.IGNORECASE,
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
.card { border: 1px solid #ddd; margin: .75rem 0; padding: .5rem; }
.d-none, .modal, .tooltip-text, .popover { display: none; }
.text-danger, .fa-times { color: #b00020; }
.fa-check-circle::before { content: "\\2714  passed"; }
.fa-times::before { content: "\\2718  failed"; }
.fixed-bottom { display: none; }  /* the newsletter banner */
.text-success { color: #1b5e20; }
img { max-width: 240px; }
#seqcast-offline { background: #f6f8fa; border: 1px solid #ddd; padding: .5rem 1rem; margin-bottom: 1rem; }
"""


def site_root(data_dir: str | Path) -> Path:
    """The local Data Docs site of a data dir."""
    return DataDir(data_dir).data_docs.parent


def base_url(port: int | None = None) -> str:
    """Where ``seqcast docs serve`` answers: ``$SEQCAST_DOCS_URL``, else 127.0.0.1 on
    ``port`` (default ``$SEQCAST_DOCS_PORT`` or 8765)."""
    if port is None and os.environ.get("SEQCAST_DOCS_URL"):
        return os.environ["SEQCAST_DOCS_URL"].rstrip("/")
    port = port or int(os.environ.get("SEQCAST_DOCS_PORT") or DEFAULT_PORT)
    return f"http://{HOST}:{port}"


def url_for(page: str | Path, data_dir: str | Path, base: str | None = None) -> str:
    """The HTTP URL of a Data Docs ``page`` (a path under the data dir's site)."""
    root = site_root(data_dir).resolve()
    rel = Path(page).resolve().relative_to(root)
    return f"{base or base_url()}/{rel.as_posix()}"


def _validation_list(root: Path) -> str:
    pages = sorted(root.glob("validations/**/*.html"), reverse=True)
    items = "".join(
        f'<li><a href="/{html.escape(p.relative_to(root).as_posix())}">'
        f"{html.escape(' / '.join(p.relative_to(root / 'validations').parts))}</a></li>"
        for p in pages[:50]
    )
    suites = "".join(
        f'<li><a href="/{html.escape(p.relative_to(root).as_posix())}">{html.escape(p.stem)}</a></li>'
        for p in sorted(root.glob("expectations/**/*.html"))
    )
    return (f'<div id="seqcast-offline"><h2>Validation results (newest first)</h2><ul>{items}</ul>'
            f"<h2>Expectation suites</h2><ul>{suites}</ul></div>")


def offline_page(text: str, root: Path, index: bool = False) -> str:
    """A Data Docs page without its CDN tags, with the local stylesheet (and, on the
    index, a plain list of every validation result)."""
    text = _CDN_TAG.sub("", text)
    text = text.replace("</head>", f'<link rel="stylesheet" href="{OFFLINE_CSS}"></head>', 1)
    if index:
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _validation_list(root), text, count=1)
    return text


class _Handler(SimpleHTTPRequestHandler):
    offline = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == OFFLINE_CSS:
            return self._send(_STYLE.encode(), "text/css")
        local = Path(self.translate_path(path))
        if local.is_dir():
            local = local / "index.html"
        if self.offline and local.suffix == ".html" and local.is_file():
            root = Path(self.directory)
            body = offline_page(local.read_text(encoding="utf-8"), root, index=local == root / "index.html")
            return self._send(body.encode(), "text/html; charset=utf-8")
        return super().do_GET()

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # quiet console; errors still go to stderr through log_error


def make_server(data_dir: str | Path, port: int = DEFAULT_PORT, offline: bool = True) -> ThreadingHTTPServer:
    """An HTTP server for the data dir's Data Docs on 127.0.0.1 (port 0: any free port).

    >>> server = make_server("data", port=0)  # doctest: +SKIP
    >>> server.serve_forever()                # doctest: +SKIP
    """
    root = site_root(data_dir)
    handler = type("DocsHandler", (_Handler,), {"offline": offline})
    return ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(root)))
