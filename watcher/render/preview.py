"""What ``watcher preview`` shows for one digest and one destination: the document that
destination would get, made by the same functions its notifier sends with — the mail
within its size budget (``email.build_message``), the Slack messages as they are trimmed
and split (``slack.build_messages``), the local file's Markdown (``formats.render_format``).

Pure, like the rest of ``render/``: the mail's sender and date are passed in.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from watcher.models import Destination, Digest
from watcher.render.email import DEFAULT_MAX_BYTES, Composed, build_message
from watcher.render.formats import one_line, render_format
from watcher.render.slack import SlackMessage, build_messages

PreviewFormat = Literal["markdown", "text", "html", "slack"]
PREVIEW_FORMATS: tuple[PreviewFormat, ...] = ("markdown", "text", "html", "slack")
# Formats whose output is one document (an HTML page, a JSON array): several of them in a
# row on one stream would be no valid document at all.
WHOLE_DOCUMENTS: frozenset[str] = frozenset({"html", "slack"})
EXTENSIONS = {"markdown": "md", "text": "txt", "html": "html", "slack": "json"}
PREVIEW_MESSAGE_ID = "<preview@arxiv-watcher.invalid>"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True, slots=True)
class Preview:
    """One output: the document, and a line saying what the destination gets."""

    body: str
    summary: str


def preview(
    destination: Destination,
    digest: Digest,
    fmt: PreviewFormat,
    *,
    highlight: bool,
    now: datetime,
    mail_from: str,
) -> Preview:
    """The ``fmt`` document ``destination`` would get for ``digest``.

    ``slack`` is the Block Kit JSON (a list of messages: a summary, then its thread's
    replies) whatever the destination. For an email destination ``html`` and ``text`` are the
    mail's two parts and ``markdown`` shows the papers the mail shows in full; otherwise the
    digest in that format (what the local destination writes is ``markdown``).
    """
    messages = build_messages(digest) if fmt == "slack" or destination.kind == "slack" else []
    if destination.kind == "email":
        to = destination.target or ("preview@localhost",)
        mail = build_message(
            digest, mail_from=mail_from, to=to, now=now, message_id=PREVIEW_MESSAGE_ID
        )
        summary = _mail_summary(digest, mail)
        if fmt in ("html", "text"):
            part = mail.message.get_body(("html",) if fmt == "html" else ("plain",))
            body = part.get_content() if part is not None else ""
            return Preview(str(body), summary)
        shown = _as_mailed(digest, mail.shown)
    else:
        summary = _slack_summary(messages) if destination.kind == "slack" else ""
        shown = digest
    if fmt == "slack":
        return Preview(slack_json(messages), summary)
    return Preview(render_format(shown, fmt, highlight=highlight), summary)


def slack_json(messages: list[SlackMessage]) -> str:
    """The messages as Slack gets them: ``text`` (the notification) and ``blocks``."""
    payload = [{"text": m.text, "blocks": list(m.blocks)} for m in messages]
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def preview_filename(destination: Destination, digest: Digest, fmt: PreviewFormat) -> str:
    """``<subscription>/<period>--<destination>.<ext>``: one file per digest and
    destination, named only with characters every file system takes."""
    sub = _UNSAFE.sub("_", one_line(digest.subscription)).strip("._") or "subscription"
    dest = _UNSAFE.sub("_", one_line(destination.key)).strip("._") or "destination"
    period = _UNSAFE.sub("_", digest.period)
    return f"{sub}/{period}--{dest}.{EXTENSIONS[fmt]}"


def _as_mailed(digest: Digest, shown: int) -> Digest:
    """The digest cut to the papers the mail shows in full; the rest counted as "+N more"."""
    rest = len(digest.matches) - shown
    if rest <= 0:
        return digest
    return dataclasses.replace(
        digest, matches=digest.matches[:shown], omitted=digest.omitted + rest
    )


def _mail_summary(digest: Digest, mail: Composed) -> str:
    total = len(digest.matches)
    listed = total - mail.shown
    size = f"{len(mail.data) / 1000:.0f} of {DEFAULT_MAX_BYTES / 1000:.0f} KB"
    if not listed:
        return f"the mail shows all {total} papers in full ({size})"
    return (
        f"the mail shows {mail.shown} of {total} papers in full and lists {listed} by title "
        f"({size})"
    )


def _slack_summary(messages: list[SlackMessage]) -> str:
    if len(messages) <= 1:
        return "Slack: one message"
    replies = len(messages) - 1
    return (
        f"Slack: a summary and {replies} {'reply' if replies == 1 else 'replies'} in its "
        f"thread (through a webhook, which cannot thread: {len(messages)} messages in a row)"
    )
