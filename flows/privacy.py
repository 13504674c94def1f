"""The learner owns their data: /privacy, /mydata, /delete, renewed consent and retention.

- /privacy says in plain words what is stored, who sees it and for how long, and lists which
  coach looked at what and when (the `access_log` table, written by the coach workspace).
- /mydata sends one ZIP: `data.json` with every row of every table linked to the learner
  (found by walking the foreign keys, see storage/repositories/privacy.py) and their files.
- /delete (confirmed twice) tells the coach the learner left, then erases the learner's rows
  and files for real. An anonymous tombstone (`erased_learners`: day, reason, join month and
  row counts, no content and no ids) keeps the programme's numbers right.
- Renewed consent: when CONSENT_VERSION in flows/onboarding.py is raised, a learner who agreed
  to an older version sees the new text at their next message; agreeing continues where they
  were, declining stops all use of their data (they can still use /mydata and /delete).
- Retention: `purge` erases learners whose last activity is more than `retention_months` ago
  (`OPSTAP_RETENTION_MONTHS`, default 12); a daily job and `opstap purge` run it.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from flows import onboarding, signals
from flows.engine import EVERYONE, LEARNER, Context, Flow
from flows.i18n import N_
from flows.messages import Button, Event, OutFile
from flows.portfolio_export import TELEGRAM_LIMIT, zip_in_parts
from flows.uploads import CLEANED_IMAGES, detect_type, without_metadata
from storage.files import FileStore
from storage.models import ErasedLearner
from storage.repositories import linked_files
from storage.uow import UnitOfWork

#: What a coach can look at, as recorded in the access log (`what`), in the learner's words.
ACCESS_WHAT = {
    "profile": N_("your profile"),
    "intake": N_("your intake answers"),
    "goals": N_("your goals"),
    "reflections": N_("your reflections"),
    "evidence": N_("your evidence"),
    "portfolio": N_("your portfolio"),
    "timeline": N_("your timeline"),
    "feedback": N_("feedback for you"),
    "view": N_("your profile and what you share"),
    "listen": N_("a voice message you sent"),
    "member": N_("your group membership"),
    "atrisk": N_("the list of who may need support"),
}
#: Commands a learner may use while asked to agree to a new consent text.
PRIVACY_COMMANDS = frozenset({"privacy", "mydata", "delete", "language", "help", "cancel"})
#: Exports are removed from the file store after this long (the daily job does it).
EXPORT_LIFETIME = timedelta(days=1)
#: Uploaded files no row points at (a crash between saving and committing) are removed once
#: they are this old, so a transaction still in flight keeps its file.
ORPHAN_AGE = timedelta(hours=1)
#: Handled update ids are kept this long to recognise Telegram's repeats (a day at most).
PROCESSED_UPDATES_KEPT = timedelta(days=7)
USER_FOLDERS = ("uploads/u{id}", "exports/u{id}", "charts/u{id}", "qrcodes/u{id}")


# -- erasure and export (used by the flows, the daily job and `opstap purge`) -------------
async def erase_learner(
    uow: UnitOfWork, files: FileStore, user_id: int, *, reason: str, at: datetime
) -> ErasedLearner | None:
    """Erases a user's rows and files; leaves an anonymous tombstone. The caller commits.

    The rows go first (in the transaction), then the files; should the commit still fail,
    the learner is told and can erase again (rows pointing at missing files are fine)."""
    rows = await uow.privacy.linked_rows(user_id)
    tombstone = await uow.privacy.erase(user_id, reason=reason, at=at)
    for relpath in linked_files(rows):
        files.delete(relpath)
    for folder in USER_FOLDERS:
        shutil.rmtree(files.path(folder.format(id=user_id)), ignore_errors=True)
    return tombstone


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def write_export(
    folder: Path,
    data: dict[str, Any],
    files: list[tuple[str, Path]],
    *,
    limit: int = TELEGRAM_LIMIT,
) -> list[Path]:
    """Writes the ZIP under generated names, in parts that Telegram can send (the same
    splitting as /export): `data.json` in the first, `files/<stored path>` for each file.
    All parts or none: a failure removes the parts written so far."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=_json_value).encode()
    written: list[Path] = []
    copies: list[Path] = []
    present: list[tuple[str, Path]] = []
    for relpath, path in files:
        if path.is_file():
            present.append((f"files/{relpath}", _without_exif(path, folder, copies)))
    try:
        for blob in zip_in_parts(fixed=[("data.json", text)], files=present, limit=limit):
            target = folder / f"{secrets.token_hex(16)}.zip"
            part = target.with_name(target.name + ".part")
            written.append(part)
            part.write_bytes(blob)
            part.replace(target)
            written[-1] = target
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    finally:
        for copy in copies:
            copy.unlink(missing_ok=True)
    return written


def _without_exif(path: Path, folder: Path, copies: list[Path]) -> Path:
    """The file to zip for `path`: a photo as a passing copy without EXIF data (photos kept
    before Opstap removed it on arrival still carry it in the store), anything else itself."""
    if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp", ".heic"}:
        return path
    original = path.read_bytes()
    mime = detect_type(original)
    if mime is None or mime not in CLEANED_IMAGES:
        return path
    clean = without_metadata(original, mime)
    if clean == original:
        return path
    copy = folder / f"{secrets.token_hex(16)}{path.suffix}.clean"
    copy.write_bytes(clean)
    copies.append(copy)
    return copy


async def export_learner(ctx: Context, *, limit: int = TELEGRAM_LIMIT) -> list[Path]:
    """Builds the learner's ZIP (in parts when it is too big for one) in the file store and
    returns the paths of its parts."""
    rows = await ctx.uow.privacy.linked_rows(ctx.user.id)
    data = {"exported_at": ctx.now, "user_id": ctx.user.id, "tables": rows.all_rows()}
    stored = [(relpath, ctx.files.path(relpath)) for relpath in linked_files(rows)]
    folder = ctx.files.path(f"exports/u{ctx.user.id}")
    # Zipping many files takes a while: off the event loop, so other chats go on.
    return await asyncio.to_thread(write_export, folder, data, stored, limit=limit)


# -- retention -----------------------------------------------------------------------------
def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


@dataclass(frozen=True)
class PurgeItem:
    """A learner that retention erases (or would erase): no personal data."""

    user_id: int
    last_active: datetime
    status: str


async def purge(
    uow_factory: Callable[[], UnitOfWork],
    files: FileStore,
    *,
    now: datetime,
    months: int,
    dry_run: bool = False,
) -> list[PurgeItem]:
    """Erases every learner inactive for `months` months, one transaction each."""
    cutoff = months_before(now, months)
    async with uow_factory() as uow:
        users = await uow.privacy.due_for_erasure(inactive_since=cutoff)
        due = [(PurgeItem(u.id, u.last_seen_at or u.created_at, u.status), u) for u in users]
        keys = {u.id: f"{u.channel}:{u.external_id}" for u in users}
    if dry_run:
        return [item for item, _ in due]
    erased: list[PurgeItem] = []
    for item, _ in due:
        async with uow_factory() as uow:
            # The same lock as the learner's own updates; another worker's purge waits, then
            # finds the learner gone (or active again) and does nothing.
            await uow.lock(keys[item.user_id])
            again = await uow.users.get(item.user_id)
            last = (again.last_seen_at or again.created_at) if again else None
            if last is None or last >= cutoff:
                continue
            if await erase_learner(uow, files, item.user_id, reason="retention", at=now):
                erased.append(item)
            await uow.commit()
    clean_exports(files, now=now)
    async with uow_factory() as uow:
        await sweep_orphans(files, await uow.privacy.stored_files(), now=now)
        await uow.privacy.prune_processed_updates(before=now - PROCESSED_UPDATES_KEPT)
        # Updates set aside for an operator may quote a learner: kept a week, like the ids.
        await uow.inbox.prune_set_aside(before=now - PROCESSED_UPDATES_KEPT)
        await uow.commit()
    return erased


async def sweep_orphans(files: FileStore, known: set[str], *, now: datetime) -> list[str]:
    """Removes uploaded files that no row points at and that are older than ORPHAN_AGE."""
    root = files.root / "uploads"
    if not root.is_dir():
        return []
    limit = (now - ORPHAN_AGE).timestamp()
    removed = []
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(files.root).as_posix()
        if path.is_file() and relpath not in known and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed.append(relpath)
    return removed


def clean_exports(files: FileStore, *, now: datetime) -> int:
    """Removes export ZIPs older than EXPORT_LIFETIME; returns how many."""
    root = files.root / "exports"
    if not root.is_dir():
        return 0
    removed = 0
    limit = (now - EXPORT_LIFETIME).timestamp()
    for path in root.glob("u*/*.zip"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# -- flows ---------------------------------------------------------------------------------
class Privacy(Flow):
    """/privacy: what is stored, who sees it, how long, and who looked at it."""

    name = "privacy"
    commands: ClassVar = {"privacy": N_("What I store about you and who sees it")}
    menu: ClassVar = {"privacy": N_("Privacy")}
    roles = EVERYONE

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Explains in four short messages; the last lists the access log."""
        ctx.say(
            ctx._(
                "What I store: your name and language, your answers to the intake, your goals, "
                "reflections and evidence, the files you send, and when you last wrote to me."
            )
        )
        ctx.say(
            ctx._(
                "Who sees it: you. Your coach sees that you are in their group and only what "
                "you choose to share. Nobody else sees your answers."
            )
        )
        ctx.say(
            ctx.n_(
                "How long: as long as you take part. {months} month after your last message, "
                "I erase everything. Get a copy with /mydata. Erase everything now with "
                "/delete.",
                "How long: as long as you take part. {months} months after your last message, "
                "I erase everything. Get a copy with /mydata. Erase everything now with "
                "/delete.",
                ctx.config.retention_months,
                months=ctx.config.retention_months,
            )
        )
        membership = await ctx.uow.memberships.active_for(ctx.user.id)
        if membership is not None:
            shared = [
                ctx._(ACCESS_WHAT[what])
                for what, on in (
                    ("goals", membership.share_goals),
                    ("reflections", membership.share_reflections),
                    ("evidence", membership.share_evidence),
                )
                if on
            ]
            ctx.say(
                ctx._("You share with your coach: {items}.", items=", ".join(shared))
                if shared
                else ctx._("You share nothing with your coach yet.")
            )
        entries = [
            entry
            for entry in await ctx.uow.access_log.of_learner(ctx.user.id, limit=40)
            if entry.allowed and entry.what in ACCESS_WHAT
        ][:20]
        if not entries:
            ctx.say(ctx._("No coach has looked at your data yet."))
        else:
            lines = [ctx._("Who looked at your data:")]
            for entry in entries:
                coach = await ctx.uow.users.get(entry.coach_id) if entry.coach_id else None
                what = ACCESS_WHAT[entry.what]
                lines.append(
                    ctx._(
                        "{when}: {coach} looked at {what}.",
                        when=ctx.t.datetime(entry.at, format="short"),
                        coach=(coach.display_name if coach else None) or ctx._("a former coach"),
                        what=ctx._(what),
                    )
                )
            ctx.say("\n".join(lines))
        if ctx.conversation.flow is not None:
            await ctx.repeat()


class MyData(Flow):
    """/mydata: everything stored about the learner, as one ZIP file."""

    name = "mydata"
    commands: ClassVar = {"mydata": N_("Get a copy of all your data")}
    roles = EVERYONE
    #: Parts of the ZIP stay under this size (Telegram's limit for bots).
    limit: int = TELEGRAM_LIMIT

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Builds the ZIP and sends it, in parts when it is too big for one message; a full
        disk gets a clear message."""
        await ctx.working("document")
        try:
            paths = await export_learner(ctx, limit=self.limit)
        except OSError:
            ctx.say(
                ctx._(
                    "I could not make your file right now. Nothing was stored. "
                    "Please try again later."
                )
            )
            return
        if len(paths) == 1:
            ctx.say(
                ctx._(
                    "Here is everything I store about you: your data in data.json and the "
                    "files you sent. Keep this file in a safe place."
                ),
                file=OutFile(paths[0], kind="document", file_name="opstap-mydata.zip"),
            )
        else:
            ctx.say(
                ctx.n_(
                    "Here is everything I store about you, in {count} part because your files "
                    "are too big for one: your answers (in the first part) and the files you "
                    "sent. Keep them in a safe place.",
                    "Here is everything I store about you, in {count} parts because your files "
                    "are too big for one: your answers (in the first part) and the files you "
                    "sent. Keep them in a safe place.",
                    len(paths),
                )
            )
            for number, path in enumerate(paths, start=1):
                name = f"opstap-mydata-{number}of{len(paths)}.zip"
                ctx.say(
                    ctx._("Part {number} of {total}.", number=number, total=len(paths)),
                    file=OutFile(path, kind="document", file_name=name),
                )
        if ctx.conversation.flow is not None:
            await ctx.repeat()  # the question the learner was at (the consent screen, say)


class Delete(Flow):
    """/delete: erases everything about the learner, after two confirmations."""

    name = "delete"
    commands: ClassVar = {"delete": N_("Erase all your data")}
    roles = frozenset({LEARNER})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        # Called off, the learner comes back to where they were (the consent screen, say).
        place = ctx.data.get("resume") if ctx.conversation.flow == self.name else ctx.suspended()
        await ctx.begin(self, "first", data={"resume": place})

    def _keep(self, ctx: Context) -> Button:
        return ctx.button(ctx._("No, keep my data"), "keep", short=ctx._("Keep my data"))

    async def ask_first(self, ctx: Context) -> None:
        ctx.say(
            ctx._(
                "Do you want me to erase everything I store about you? Your goals, reflections, "
                "evidence and files will be gone for good. I will tell your coach that you left."
            ),
            buttons=[[ctx.button(ctx._("Yes, erase everything"), "yes")], [self._keep(ctx)]],
        )

    async def on_first(self, ctx: Context, event: Event) -> None:
        if event.value == "yes":
            await ctx.go("second")
        else:
            await self._kept(ctx, event)

    async def ask_second(self, ctx: Context) -> None:
        ctx.say(
            ctx._("Are you sure? This cannot be undone. Tip: first get a copy with /mydata."),
            buttons=[[ctx.button(ctx._("Erase now"), "erase")], [self._keep(ctx)]],
        )

    async def on_second(self, ctx: Context, event: Event) -> None:
        if event.value != "erase":
            await self._kept(ctx, event)
            return
        user = ctx.user
        membership = await ctx.uow.memberships.active_for(user.id)
        group = await ctx.uow.groups.get(membership.group_id) if membership else None
        if group is not None:
            # This notice outlives the learner's data, so it does not name them.
            await ctx.notify(
                group.coach_id,
                N_(
                    "A learner of your group {group} has left Opstap and asked to erase their "
                    "data. Their data is erased."
                ),
                kind="learner_left",
                dedup_key=f"learner_left:{user.id}:{ctx.now.isoformat()}",
                group=group.name,
            )
        await ctx.finish(menu=False)
        await erase_learner(ctx.uow, ctx.files, user.id, reason="delete", at=ctx.now)
        ctx.say(
            ctx._(
                "Everything is erased. Thank you for taking part. "
                "If you want to start again, send /start."
            )
        )

    async def _kept(self, ctx: Context, event: Event) -> None:
        if event.value != "keep":
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.say(ctx._("Good, I keep everything."))
        if not await ctx.resume(ctx.data.get("resume")):
            await ctx.finish()


class RenewConsent(Flow):
    """Asks learners who agreed to an older consent text to agree to the new one."""

    name = "renew_consent"
    roles = frozenset({LEARNER})
    #: Flows that run even before the new text is accepted.
    open_flows: ClassVar = frozenset({"renew_consent", "privacy", "mydata", "delete"})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "agree", data={"resume": ctx.suspended()})

    async def gate(self, ctx: Context, event: Event) -> bool:
        """Takes any event of a learner whose consent is older than the current text."""
        user = ctx.user
        if (
            user.role != LEARNER
            or user.consent_version is None
            or user.consent_version >= onboarding.CONSENT_VERSION
            or ctx.conversation.flow in self.open_flows
            or (event.kind == "command" and event.command in PRIVACY_COMMANDS)
        ):
            return False
        await self.start(ctx, "", "")
        return True

    async def ask_agree(self, ctx: Context) -> None:
        ctx.say(
            ctx._("I have a new text about your data. Please read it and tell me if you agree.")
        )
        ctx.say(
            ctx._(
                "Before we start: I store your answers, goals, reflections and files. "
                "Only you and your coach can see them, and you choose what your coach sees. "
                "You can see or delete everything at any time with /mydata and /delete. "
                "Do you agree?"
            ),
            buttons=[
                [ctx.button(ctx._("Yes, I agree"), "yes"), ctx.button(ctx._("No, thanks"), "no")]
            ],
        )

    async def on_agree(self, ctx: Context, event: Event) -> None:
        user = ctx.user
        if event.value == "yes":
            user.consent_version = onboarding.CONSENT_VERSION
            user.consent_at = ctx.now
            ctx.say(ctx._("Thank you! Let us go on."))
            if not await ctx.resume(ctx.data.get("resume")):
                await ctx.finish()
        elif event.value == "no":
            coach_id = await ctx.uow.memberships.coach_id_for(user.id)
            if coach_id is not None:
                await ctx.notify(
                    coach_id,
                    N_("{name} did not agree to the new privacy text and stopped using Opstap."),
                    kind="learner_left",
                    about=user.id,
                    name=user.display_name or "-",
                )
            await ctx.signal(signals.LEFT, reason="consent_declined")
            user.consent_version = None
            user.consent_declined_at = ctx.now
            user.status = "declined"
            await ctx.finish(menu=False)
            ctx.say(
                ctx.n_(
                    "That is fine. I will not use your data any more and I will not write to "
                    "you. Get a copy with /mydata or erase it now with /delete. Otherwise I "
                    "erase it after {months} month. If you change your mind, send /start.",
                    "That is fine. I will not use your data any more and I will not write to "
                    "you. Get a copy with /mydata or erase it now with /delete. Otherwise I "
                    "erase it after {months} months. If you change your mind, send /start.",
                    ctx.config.retention_months,
                    months=ctx.config.retention_months,
                )
            )
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))


def privacy_flows() -> list[Flow]:
    """The privacy flows, in /help order."""
    return [Privacy(), MyData(), Delete(), RenewConsent()]


__all__ = [
    "Delete",
    "MyData",
    "Privacy",
    "RenewConsent",
    "clean_exports",
    "erase_learner",
    "months_before",
    "privacy_flows",
    "purge",
]
