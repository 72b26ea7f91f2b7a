"""Database URLs: which engine a URL names, its password kept apart, and where a password comes from.

    postgresql://user@host:5432/db     mysql://user@host/db (MariaDB too)     duckdb:///file.duckdb
    sqlite:///file.sqlite (and plain paths) stay with rag.sandbox's worker process

As in SQLAlchemy, `duckdb:///x.duckdb` and `sqlite:///x.sqlite` are relative paths and
`duckdb:////abs/x.duckdb` absolute ones.

Passwords: a password in the URL is used and never shown (`DatabaseURL.masked`); without one,
`CODERAG_DB_PASSWORD`, then a pgpass-style file (`CODERAG_DB_PASSFILE`, else `PGPASSFILE` or
`~/.pgpass`: `host:port:database:user:password`, `*` matches anything). Registrations store
`DatabaseURL.public`, the URL without its password.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["DIALECTS", "DatabaseURL", "find_password", "is_database_url", "mask", "require_modules"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class _Scheme:
    engine: str  # postgresql | mysql | duckdb
    driver: str  # SQLAlchemy's drivername
    extra: str  # pip install 'coderag[EXTRA]'
    modules: tuple[str, ...]  # what the driver needs importable


_PG = _Scheme("postgresql", "postgresql+psycopg", "postgres", ("sqlalchemy", "psycopg"))
_MY = _Scheme("mysql", "mysql+pymysql", "mysql", ("sqlalchemy", "pymysql"))
_DUCK = _Scheme("duckdb", "duckdb", "duckdb", ("sqlalchemy", "duckdb", "duckdb_engine"))
_SCHEMES = {
    "postgresql": _PG, "postgres": _PG, "postgresql+psycopg": _PG,
    "mysql": _MY, "mariadb": _MY, "mysql+pymysql": _MY, "mariadb+pymysql": _MY,
    "duckdb": _DUCK,
}  # fmt: skip
DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "duckdb": "duckdb", "sqlite": "sqlite"}  # engine → sqlglot dialect


def is_database_url(text: str) -> bool:
    """Whether `text` looks like `scheme://…` (a URL, not a file path).

    >>> is_database_url("postgresql://me@db/shop"), is_database_url("shop.sqlite"), is_database_url("C:/x")
    (True, False, False)
    """
    return bool(_URL.match(text or ""))


_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\n]*@")  # to the line's last @: a password may hold @ / # ? and spaces


def mask(text: str) -> str:
    """Text with the password of any URL in it replaced by `***`: everything from the user name's
    `:` to the last `@` on the line (a password may hold an unencoded `@`, `/`, `#`, `?` or a
    space; masking too much is safe, too little is not).

    >>> mask("postgresql://me:s3cret@db:5432/shop")
    'postgresql://me:***@db:5432/shop'
    >>> mask("cannot parse mysql://me:a/b#c?d@e@db/shop")
    'cannot parse mysql://me:***@db/shop'
    """
    return _PASSWORD.sub(r"\1:***@", text)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. `engine`: postgresql, mysql, duckdb or sqlite. The password is kept
    apart from the URL, so printing or storing `masked` / `public` never shows it."""

    engine: str
    url: URL  # without the password
    password: str | None = field(default=None, repr=False)
    scheme: _Scheme | None = None

    @classmethod
    def parse(cls, text: str) -> DatabaseURL:
        """Parse and check the scheme; an unsupported one is a ConfigError naming the supported ones."""
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        known = _SCHEMES.get(scheme)
        if scheme != "sqlite" and known is None:
            raise ConfigError(
                f"unsupported database URL scheme '{scheme}://'",
                hint="use postgresql://, mysql:// (MariaDB too), duckdb:///FILE or sqlite:///FILE, or a SQLite file path",
            )
        require_modules(("sqlalchemy",), known.extra if known else "postgres")
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError

        password, rest = _split_password(rest)
        try:
            url = make_url(f"{known.driver if known else 'sqlite'}://{rest}")
        except (ArgumentError, ValueError):
            raise ConfigError(f"cannot parse the database URL {mask(text)}") from None
        engine = known.engine if known else "sqlite"
        if not url.database:
            example = (
                "duckdb:///FILE.duckdb"
                if engine == "duckdb"
                else "sqlite:///FILE.sqlite"
                if engine == "sqlite"
                else f"{scheme}://USER@HOST/DATABASE"
            )
            raise ConfigError(f"the URL {mask(text)} names no database", hint=f"e.g. {example}")
        bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
        return cls(engine, bare, password if password is not None else url.password, known)

    @property
    def dialect(self) -> str:
        """sqlglot's name for the engine's SQL."""
        return DIALECTS[self.engine]

    @property
    def path(self) -> Path | None:
        """The file of a DuckDB or SQLite URL."""
        return Path(self.url.database or "").expanduser() if self.engine in ("duckdb", "sqlite") else None

    @property
    def public(self) -> str:
        """The URL as the user would type it, without any password (registrations, store keys, messages)."""
        rest = self.url.render_as_string(hide_password=True).split("://", 1)[1]
        return f"{self.engine}://{rest}"

    @property
    def masked(self) -> str:
        """For messages: `public`, with `:***` where a password was given."""
        if self.password is None or "@" not in self.public:
            return self.public
        scheme, rest = self.public.split("://", 1)
        user, _, host = rest.partition("@")
        return f"{scheme}://{user}:***@{host}"


def _split_password(rest: str) -> tuple[str | None, str]:
    """(the password, the URL after `scheme://` without it). The password runs from the first `:`
    of the user part to the last `@`, so one holding an unencoded `@`, `/`, `#` or `?` is taken
    whole (SQLAlchemy would cut it at the first `@` and read the rest as the host). `%XX` escapes
    are decoded, as SQLAlchemy does.

    >>> _split_password("me:p@ss/w#rd@db:5432/shop")
    ('p@ss/w#rd', 'me@db:5432/shop')
    >>> _split_password("/path/to/file.duckdb")
    (None, '/path/to/file.duckdb')
    """
    from urllib.parse import unquote

    at = rest.rfind("@")
    user, colon, password = rest[: max(at, 0)].partition(":")
    if at < 0 or not colon or "/" in user or "@" in user:
        return None, rest
    return unquote(password), f"{user}@{rest[at + 1 :]}"


def require_modules(modules: tuple[str, ...], extra: str) -> None:
    """A missing driver is a one-line ConfigError naming the extra that installs it."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"the Python package '{module}' is not installed", hint=f"pip install 'coderag[{extra}]'") from None


# -- passwords -----------------------------------------------------------------------------------


def find_password(url: DatabaseURL) -> str | None:
    """The URL's password, else `CODERAG_DB_PASSWORD`, else the first matching pgpass-style line
    (None for a file: DuckDB and SQLite have no passwords)."""
    if url.engine not in ("postgresql", "mysql"):
        return None
    if url.password is not None:
        return url.password
    if os.environ.get("CODERAG_DB_PASSWORD"):
        return os.environ["CODERAG_DB_PASSWORD"]
    name = os.environ.get("CODERAG_DB_PASSFILE") or os.environ.get("PGPASSFILE") or str(Path.home() / ".pgpass")
    return _from_passfile(Path(name), url)


def _from_passfile(path: Path, url: DatabaseURL) -> str | None:
    """`host:port:database:user:password` lines (`*` matches anything, `\\:` is a colon), as libpq reads ~/.pgpass."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    default_port = {"postgresql": 5432, "mysql": 3306}.get(url.engine, 0)
    wanted = [url.url.host or "localhost", str(url.url.port or default_port), url.url.database or "", url.url.username or ""]
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.replace("\\:", ":").replace("\\\\", "\\") for f in re.split(r"(?<!\\):", line, maxsplit=4)]
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], wanted)):
            return fields[4]
    return None
