"""Keeping the files users send: size check, type from the content (not the name), a
generated name in the file store, SHA-256, and duplicates noticed. Photos are kept without
their EXIF data (place, time, device), and the length of a recording is read from the file
itself (mutagen), whatever the channel said."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping

import filetype  # type: ignore[import-untyped]
import mutagen
import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from flows.engine import Context
from flows.messages import MAX_FILE_BYTES, IncomingFile
from storage.models import Upload

#: What Opstap keeps, by detected MIME type, with the suffix used in the file store.
ACCEPTED: Mapping[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-wav": ".wav",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/3gpp": ".3gp",
}
pillow_heif.register_heif_opener()  # HEIC photos (iPhones) open and save through Pillow

VOICE_TYPES = frozenset({"audio/ogg", "audio/mpeg", "audio/mp4", "audio/x-wav"})
#: Pictures whose metadata Pillow can drop; other types are kept as they came.
CLEANED_IMAGES: Mapping[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}
#: The parts of `Image.info` that carry metadata; pillow-heif writes them back on saving.
METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "metadata")


class UploadRejected(Exception):
    """A file that cannot be kept; `reason` is `too_big`, `type` or `storage`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def detect_type(data: bytes) -> str | None:
    """The MIME type read from the file's content, or None when it is not recognised."""
    kind = filetype.guess(data[:8192] if len(data) > 8192 else data)
    if kind is None:
        return None
    mime = str(kind.mime)
    return {"audio/m4a": "audio/mp4", "application/zip": None}.get(mime, mime)


def measure_duration(data: bytes) -> int | None:
    """The length of a recording in whole seconds, read from the file (mutagen), or None
    when the file holds no length mutagen can read."""
    try:
        media = mutagen.File(io.BytesIO(data))
    except mutagen.MutagenError:
        return None
    length = getattr(getattr(media, "info", None), "length", None)
    if not length or length < 0:
        return None
    return max(1, round(float(length)))


def duration_text(seconds: int | None) -> str:
    """A length as one `m:ss`. Fill it into a sentence as one placeholder, so a
    right-to-left language isolates it whole and 1:23 never reads as 23:1."""
    value = max(0, int(seconds or 0))
    return f"{value // 60}:{value % 60:02d}"


def without_metadata(data: bytes, mime: str) -> bytes:
    """A picture without its EXIF, XMP and comments (GPS position, time, camera), turned
    upright first since the turn is EXIF too. The colour profile stays. A file Pillow cannot
    read comes back unchanged."""
    image_format = CLEANED_IMAGES.get(mime)
    if image_format is None:
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            turned = image.getexif().get(ExifTags.Base.Orientation, 1) != 1
            upright = ImageOps.exif_transpose(image) if turned else image
            for key in METADATA_KEYS:
                upright.info.pop(key, None)
            options: dict[str, object] = {}
            if getattr(image, "n_frames", 1) > 1 and image_format != "JPEG":
                options["save_all"] = True  # an animated picture keeps its frames
            if icc := image.info.get("icc_profile"):
                options["icc_profile"] = icc
            if image_format == "HEIF":
                options["exif"] = None  # pillow-heif copies the EXIF it read unless told
                options["xmp"] = None
            if image_format == "JPEG":
                # Keep the original quantisation when nothing was turned (no visible loss).
                options["quality"] = 92 if turned else "keep"
                if upright.mode not in ("RGB", "L", "CMYK"):
                    upright = upright.convert("RGB")
            buffer = io.BytesIO()
            upright.save(buffer, format=image_format, **options)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return data
    return buffer.getvalue()


async def store_upload(
    ctx: Context, file: IncomingFile, *, accept: Mapping[str, str] = ACCEPTED
) -> tuple[Upload, bool]:
    """Fetches and keeps a file; returns the upload and whether it was sent before.

    Raises UploadRejected when it is too big, of a type not in `accept`, or cannot be written.
    """
    if file.size is not None and file.size > MAX_FILE_BYTES:
        raise UploadRejected("too_big")
    data = await file.read()
    if len(data) > MAX_FILE_BYTES:
        raise UploadRejected("too_big")
    mime = detect_type(data)
    if mime is None or mime not in accept:
        raise UploadRejected("type")
    data = without_metadata(data, mime)
    duration = file.duration
    if mime.startswith(("audio/", "video/")):
        duration = measure_duration(data) or duration
    sha256 = hashlib.sha256(data).hexdigest()
    existing = await ctx.uow.uploads.by_hash(owner_id=ctx.user.id, sha256=sha256)
    if existing is not None:
        if existing.transcript is None and file.transcript:
            existing.transcript = file.transcript
        return existing, True
    try:
        stored = ctx.files.save(data, folder=f"uploads/u{ctx.user.id}", suffix=accept[mime])
    except OSError as error:
        raise UploadRejected("storage") from error
    upload = await ctx.uow.uploads.add(
        Upload(
            owner_id=ctx.user.id,
            kind=file.kind,
            relpath=stored.relpath,
            sha256=stored.sha256,
            size=stored.size,
            mime_type=mime,
            duration=duration,
            transcript=file.transcript,
        )
    )
    return upload, False


def rejection_text(ctx: Context, error: UploadRejected) -> str:
    """A kind, localized sentence saying why a file was not kept."""
    if error.reason == "too_big":
        return ctx._("That file is too big. I can take files up to {size} MB.", size=20)
    if error.reason == "storage":
        return ctx._(
            "I could not save that file right now. Nothing was stored. Please try again later."
        )
    return ctx._(
        "I cannot keep this type of file. Please send a photo, a PDF, a Word or ODT document, "
        "a voice note or a video."
    )
