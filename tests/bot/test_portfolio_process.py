"""The portfolio through the real process: `opstap run` (long polling) on the fake Bot API over
HTTP, a learner on a phone. A STARR reflection with a spoken Action (a real Ogg Opus file,
fetched through getFile) and a typed follow-up; a GPS-tagged photo as evidence, which gets the
client-privacy question; a case with a child's name, left out, with its reflection. Then
/export: the DOCX, the PDF (when LibreOffice is installed) and the ZIP are read back as their
readers would, and the left-out reflection is nowhere."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from docx import Document
from PIL import Image

from tests.bot.test_crash_process import opstap
from tests.bot.test_portfolio_telegram import CHILD, VOICE, gps_jpeg
from tests.fake_botapi import BotApiServer, bot_api_server

LEARNER = 4242
WAIT = 120.0


class Phone:
    """One learner's Telegram: sends updates and presses buttons of the bot's last answer.

    A press waits until a message sent after the learner's previous action carries the
    button, so every tap lands on the question it was meant for; typed answers keep their
    order because the bot handles one learner's updates one after the other."""

    def __init__(self, api: BotApiServer) -> None:
        self.api = api
        self.mark = 0

    def messages(self) -> list[dict[str, Any]]:
        with self.api.changed:
            return [
                p
                for m, p in self.api.calls[self.mark :]
                if m in ("sendMessage", "editMessageText", "sendDocument")
            ]

    def send(self, update: dict[str, Any]) -> None:
        with self.api.changed:
            self.mark = len(self.api.calls)
        self.api.queue(update)

    def say(self, text: str) -> None:
        self.send(self.api.text(LEARNER, text))

    def wait_for(self, text: str) -> list[dict[str, Any]]:
        """The messages since the last action, once one of them holds `text`."""
        self.api.wait(lambda _: any(text in (p.get("text") or "") for p in self.messages()), WAIT)
        return self.messages()

    def press(self, label: str) -> None:
        def button() -> str | None:
            for params in reversed(self.messages()):
                for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
                    for found in row:
                        if found["text"] == label:
                            return str(found["callback_data"])
            return None

        try:
            self.api.wait(lambda _: button() is not None, WAIT)
        except AssertionError:
            seen = [p.get("text") for p in self.messages()]
            raise AssertionError(f"no button {label!r} after the last action: {seen}") from None
        data = button()
        assert data is not None
        self.send(self.api.press(LEARNER, data))

    def labels(self) -> list[str]:
        return [
            found["text"]
            for params in self.messages()
            for row in (params.get("reply_markup") or {}).get("inline_keyboard", [])
            for found in row
        ]

    def press_containing(self, part: str) -> None:
        self.api.wait(lambda _: any(part in label for label in self.labels()), WAIT)
        (label,) = {label for label in self.labels() if part in label}
        self.press(label)


def documents(api: BotApiServer) -> dict[str, bytes]:
    """The files the bot sent, by what they are (read from their content)."""
    found: dict[str, bytes] = {}
    for method, _, files in api.uploads:
        if method != "sendDocument":
            continue
        content = files["document"]
        if content.startswith(b"%PDF"):
            found["pdf"] = content
        elif content.startswith(b"PK"):
            names = zipfile.ZipFile(io.BytesIO(content)).namelist()
            found["docx" if "word/document.xml" in names else "zip"] = content
    return found


def test_the_portfolio_through_the_real_process(tmp_path: Path) -> None:
    photo = gps_jpeg()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # it carries GPS
    with bot_api_server() as api, opstap(api, tmp_path) as process:
        phone = Phone(api)
        phone.say("/start")
        phone.press("English")
        phone.press("Yes, I agree")
        phone.say("Sam")
        phone.wait_for("")
        # A reflection: typed Situation, short Task with its follow-up, spoken Action.
        phone.say("/reflect")
        phone.say("Bij het ophalen was een moeder boos over de dag van haar kind.")
        phone.say("Haar helpen.")
        phone.wait_for("What exactly was expected of you?")
        phone.say("Ik moest haar rustig uitleggen hoe de dag van haar kind verliep.")
        phone.wait_for("(3/5)")
        note = {**api.file(VOICE), "duration": 99, "mime_type": "audio/ogg"}
        phone.send(api.media(LEARNER, voice=note))
        phone.wait_for("(4/5)")
        phone.say("De moeder was gerust en bedankte me de volgende ochtend.")
        phone.say("Ik blijf kalm, en vertel voortaan zelf meteen hoe het ging.")
        phone.press_containing("Communication")
        phone.press("Done")
        phone.press("1")
        phone.press("Done")
        assert "🎤 voice note (0:05)" in "\n".join(
            p.get("text") or "" for p in phone.wait_for("🎤 voice note")
        )
        phone.press("💾 Save")
        phone.press("Not now")
        # A photo from the crèche, filed as "other evidence".
        phone.say("/evidence")
        phone.wait_for("")
        sizes = [{**api.file(photo), "width": 120, "height": 90}]
        phone.send(api.media(LEARNER, photo=sizes))
        phone.press("Other evidence (Ander bewijsstuk)")
        phone.say("Ons leeshoekje")
        phone.say("Ik richtte het leeshoekje in en las er elke ochtend voor.")
        phone.say("05/2025")
        phone.say("Crèche Zonneschijn")
        phone.say("kinderbegeleider")
        phone.press("2. Guiding")
        phone.press("3")
        phone.press("Done")
        for _ in range(5):
            phone.press("Yes")
        phone.wait_for("Can someone recognise a client in it")  # asked for a photo too
        phone.press("No, no client can be recognised")
        phone.press_containing("Bij het ophalen")
        phone.wait_for("Your reflection is now linked to piece 1.")
        # A case with a child's name, left out, and a reflection written for it.
        phone.say("/evidence")
        phone.say(f"Casus: {CHILD} (4 jaar) huilt elke ochtend bij het afscheid.")
        phone.press("Case discussion (Casusbespreking)")
        phone.say(f"Casus {CHILD}")
        phone.press("Skip")
        phone.press("This month")
        phone.press("Crèche Zonneschijn")
        phone.press("kinderbegeleider")
        phone.press("2. Guiding")
        phone.press("1")
        phone.press("Done")
        for _ in range(5):
            phone.press("Yes")
        phone.wait_for("Did you remove names and details of clients?")
        phone.press("Not yet")
        phone.press("Write one now")
        for answer in (
            f"{CHILD} huilde elke ochtend lang toen haar vader wegging.",
            f"Ik moest {CHILD} en haar vader helpen bij het afscheid.",
            f"Ik nam {CHILD} op schoot en we zwaaiden samen naar papa.",
            f"Na een week huilde {CHILD} nog maar heel even.",
            "Een vast ritueel helpt kinderen; dat doe ik voortaan vaker zo.",
        ):
            phone.say(answer)
        phone.press("Done")
        phone.press("Done")
        phone.press("💾 Save")
        phone.wait_for("Your reflection is now linked to piece 2.")
        # The export.
        phone.say("/export")
        phone.press("Sam")
        phone.press("Dutch only")
        phone.wait_for("The name on your portfolio")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log = process.stderr.read() if process.stderr else ""
    sent = documents(api)
    docx = Document(io.BytesIO(sent["docx"]))
    body = "\n".join(p.text for p in docx.paragraphs)
    cells = "\n".join(c.text for t in docx.tables for r in t.rows for c in r.cells)
    assert "Weggelaten: bewijsstuk 2." in body
    assert "Ik moest haar rustig uitleggen hoe de dag van haar kind verliep." in body  # follow-up
    assert "Spraakbericht (0:05): bestand reflectie-" in body  # the spoken Action
    with zipfile.ZipFile(io.BytesIO(sent["zip"])) as archive:
        data = json.loads(archive.read("portfolio.json"))
        action = data["evidence"][0]["reflection"]["steps"]["action"]["voice"]
        assert archive.read(action["attachment"]) == VOICE  # the recording itself
        task = data["evidence"][0]["reflection"]["steps"]["task"]
        assert (
            task["followup"] == "Ik moest haar rustig uitleggen hoe de dag van haar kind verliep."
        )
        (picture,) = [n for n in archive.namelist() if n.endswith(".jpg")]
        exported = Image.open(io.BytesIO(archive.read(picture)))
        assert not dict(exported.getexif())  # no GPS, time or camera
        everything = b"".join(archive.read(name) for name in archive.namelist())
        if "pdf" in sent:
            assert archive.read("portfolio.pdf") == sent["pdf"]
    assert data["left_out"] == [2] and data["reflections"] == []
    for where in (body, cells, json.dumps(data, ensure_ascii=False)):
        assert CHILD not in where  # the left-out piece's reflection is nowhere
    assert CHILD.encode() not in everything
    (inline,) = [p for p in docx.part.package.parts if p.partname.startswith("/word/media/")]
    assert not dict(Image.open(io.BytesIO(inline.blob)).getexif())
    if shutil.which("soffice"):
        text = pdf_text(sent["pdf"], tmp_path)
        assert "Ons leeshoekje" in text and CHILD not in text
    assert CHILD not in log and "leeshoekje" not in log  # no learner words in the log


def pdf_text(content: bytes, folder: Path) -> str:
    path = folder / "sent.pdf"
    path.write_bytes(content)
    command = ["pdftotext", str(path), "-"]
    return subprocess.run(command, capture_output=True, check=True, timeout=30).stdout.decode()


def test_an_export_killed_while_its_files_are_made_is_not_left_in_silence(
    tmp_path: Path,
) -> None:
    """/export, and the process is killed with SIGKILL while the files are made (after the
    transaction, when LibreOffice makes the PDF). At the restart the learner gets the replies
    kept for a crash: where the files would be, a note to send /export again; and that
    works. Without LibreOffice the files are made at once: then they came before the kill."""
    with bot_api_server() as api:
        phone = Phone(api)
        with opstap(api, tmp_path) as process:
            phone.say("/start")
            phone.press("English")
            phone.press("Yes, I agree")
            phone.say("Sam")
            phone.wait_for("")
            phone.say("/export")
            phone.press("Sam")
            phone.press("Dutch only")
            phone.wait_for("I am putting your portfolio together")
            time.sleep(1.0)  # the transaction committed; the PDF is being made
            process.kill()
            process.wait(timeout=30)
        before = documents(api)
        with opstap(api, tmp_path) as process:
            if "docx" not in before:
                kept = phone.wait_for("What would you like to do?")  # the last kept reply
                texts = [p.get("text") or "" for p in kept]
                note = texts.index(
                    "I was interrupted while I put your portfolio together. Please send /export "
                    "again."
                )
                assert (
                    texts.index(
                        "The name on your portfolio: Sam. To change it, send /export name."
                    )
                    > note
                )
                phone.say("/export")
                phone.press("Dutch only")
                phone.wait_for("The name on your portfolio")
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            log = process.stderr.read() if process.stderr else ""
    print("the files came before the kill" if "docx" in before else "the kill came first")
    assert "docx" in documents(api)
    if "docx" not in before:
        assert "sent the replies of 1 updates handled before the restart" in log
    assert "Traceback" not in log
