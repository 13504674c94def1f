"""A PDF of the portfolio beside the DOCX, made by LibreOffice, since many assessors ask for one.

`soffice --headless --convert-to pdf` runs in a worker thread, in a temporary folder of its
own with a private LibreOffice profile (`-env:UserInstallation=...`, so two conversions never
share one and nothing is left in a home folder), and is killed with its children when it takes
longer than `PDF_TIMEOUT`. When LibreOffice is not installed or fails, there is no PDF: the
DOCX goes out all the same and the log says why, without any of the portfolio's content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
#: Seconds LibreOffice may take to convert one portfolio.
PDF_TIMEOUT = 120.0


def soffice() -> str | None:
    """The LibreOffice program, if it is installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def docx_to_pdf(docx: bytes, *, seconds: float | None = None) -> bytes | None:
    """The PDF LibreOffice makes of a DOCX, or None (logged) when it cannot make one."""
    program = soffice()
    if program is None:
        log.warning("no PDF of the portfolio: LibreOffice (soffice) is not installed")
        return None
    limit = PDF_TIMEOUT if seconds is None else seconds
    with tempfile.TemporaryDirectory(prefix="opstap-pdf-") as folder:
        root = Path(folder)
        source, out = root / "portfolio.docx", root / "out"
        source.write_bytes(docx)
        command = [
            program,
            f"-env:UserInstallation={(root / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(source),
        ]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "HOME": folder},
                start_new_session=True,  # its own process group, to stop it with its children
            )
        except OSError as error:
            log.warning("no PDF of the portfolio: soffice did not start: %s", type(error).__name__)
            return None
        try:
            status = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            with_children(process, signal.SIGKILL)
            process.wait()
            log.warning("no PDF of the portfolio: soffice took over %d s and was stopped", limit)
            return None
        pdf = out / "portfolio.pdf"
        if status != 0 or not pdf.is_file():
            log.warning("no PDF of the portfolio: soffice failed (exit status %d)", status)
            return None
        return pdf.read_bytes()


def with_children(process: subprocess.Popen[bytes], sign: signal.Signals) -> None:
    """Sends a signal to a process started in a session of its own, and to its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sign)


async def portfolio_pdf(docx: bytes) -> bytes | None:
    """`docx_to_pdf` in a worker thread, so other learners' messages go on meanwhile."""
    return await asyncio.to_thread(docx_to_pdf, docx)
