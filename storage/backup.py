"""One backup archive with everything Opstap keeps: the database and the data folder.

`opstap backup PATH` writes a gzip'ed tar file, readable by its owner only (0600): a
`manifest.json`, the database (SQLite: a copy made with SQLite's online backup API while the
bot runs; PostgreSQL: a `pg_dump --format=custom` file) and `data/`, the uploaded files.
`opstap restore PATH` puts both back (the bot stopped), then the schema is brought up to date.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

FORMAT = 1
SQLITE_NAME = "opstap.db"
DUMP_NAME = "opstap.dump"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


def _libpq_url(url: str) -> str:
    """The database URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _skipped(path: Path, database: Path | None) -> bool:
    """Files of the live SQLite database, when it lies in the data folder."""
    if database is None:
        return False
    return path.resolve() in {
        database.resolve(),
        *(database.with_name(database.name + suffix).resolve() for suffix in ("-wal", "-shm")),
    }


def backup(database_url: str, data_dir: Path, target: Path) -> dict[str, object]:
    """Writes the archive; returns its manifest. Never overwrites a file."""
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file.")
    sqlite = _is_sqlite(database_url)
    manifest: dict[str, object] = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "sqlite" if sqlite else "postgresql",
    }
    with tempfile.TemporaryDirectory(prefix="opstap-backup-") as folder:
        work = Path(folder)
        if sqlite:
            source = _sqlite_path(database_url)
            if not source.is_file():
                raise BackupError(f"no database at {source}")
            copy = work / SQLITE_NAME
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)
            database_file, database_path = copy, source
        else:
            if shutil.which("pg_dump") is None:
                raise BackupError(
                    "pg_dump is not installed (Debian: apt install postgresql-client)"
                )
            database_file, database_path = work / DUMP_NAME, None
            done = subprocess.run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--file",
                    str(database_file),
                    _libpq_url(database_url),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1:]}")
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with (
                os.fdopen(descriptor, "wb") as handle,
                tarfile.open(fileobj=handle, mode="w:gz") as archive,
            ):
                archive.add(work / "manifest.json", arcname="manifest.json")
                archive.add(database_file, arcname=database_file.name)
                if data_dir.is_dir():
                    for path in sorted(data_dir.rglob("*")):
                        if path.is_file() and not _skipped(path, database_path):
                            archive.add(path, arcname=f"data/{path.relative_to(data_dir)}")
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return manifest


def restore(
    database_url: str, data_dir: Path, source: Path, *, force: bool = False
) -> dict[str, object]:
    """Puts an archive back: the database, then the data folder. Refuses to replace a
    database that holds users unless `force`."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    with tempfile.TemporaryDirectory(prefix="opstap-restore-") as folder:
        work = Path(folder)
        try:
            with tarfile.open(source, "r:gz") as archive:
                archive.extractall(work, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise BackupError(
                f"{source} is not an Opstap backup ({type(error).__name__})"
            ) from None
        manifest_file = work / "manifest.json"
        if not manifest_file.is_file():
            raise BackupError(f"{source} is not an Opstap backup (no manifest.json)")
        manifest = json.loads(manifest_file.read_text("utf-8"))
        sqlite = _is_sqlite(database_url)
        if manifest.get("database") != ("sqlite" if sqlite else "postgresql"):
            raise BackupError(
                f"this backup holds a {manifest.get('database')} database, "
                f"but OPSTAP_DATABASE_URL points at {'SQLite' if sqlite else 'PostgreSQL'}"
            )
        if not force and _has_users(database_url):
            raise BackupError(
                "the database holds users already; stop the bot and add --force to replace it"
            )
        if sqlite:
            target = _sqlite_path(database_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm"):
                target.with_name(target.name + suffix).unlink(missing_ok=True)
            staged = target.with_name(target.name + ".restoring")
            shutil.copyfile(work / SQLITE_NAME, staged)
            os.chmod(staged, 0o600)
            os.replace(staged, target)
        else:
            if shutil.which("pg_restore") is None:
                raise BackupError(
                    "pg_restore is not installed (Debian: apt install postgresql-client)"
                )
            done = subprocess.run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--dbname",
                    _libpq_url(database_url),
                    str(work / DUMP_NAME),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise BackupError(f"pg_restore failed: {done.stderr.strip().splitlines()[-1:]}")
        files = work / "data"
        if files.is_dir():
            for path in sorted(files.rglob("*")):
                if path.is_file():
                    destination = data_dir / path.relative_to(files)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, destination)
    return manifest


def _has_users(database_url: str) -> bool:
    """Whether the database exists and holds at least one user (synchronously)."""
    if _is_sqlite(database_url):
        path = _sqlite_path(database_url)
        if not path.is_file():
            return False
        with closing(sqlite3.connect(path)) as connection:
            try:
                return connection.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
            except sqlite3.OperationalError:
                return False
    if shutil.which("psql") is None:
        return True  # cannot tell: be careful
    done = subprocess.run(
        ["psql", "-tAc", "SELECT 1 FROM users LIMIT 1", _libpq_url(database_url)],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and done.stdout.strip() == "1"
