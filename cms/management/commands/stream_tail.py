"""``manage.py stream_tail KIND``: print the canonical event stream of one kind."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cms.streams import entry_document, redis_client, stream_key, stream_kinds


class Command(BaseCommand):
    help = (
        "Print the events of one stream kind (status, meter_values, transactions, "
        "alerts) as JSON lines: new ones as they come, or the retained ones with "
        "--from-start."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind")
        parser.add_argument(
            "--from-start", action="store_true", help="Begin with the oldest entry."
        )
        parser.add_argument(
            "--count", type=int, default=0, help="Stop after this many (0: never)."
        )
        parser.add_argument(
            "--block-ms", type=int, default=5000, help="How long one read waits."
        )
        parser.add_argument(
            "--idle-exit",
            action="store_true",
            help="Stop when a read waited --block-ms and nothing came.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        if kind not in stream_kinds():
            raise CommandError(
                f"Unknown stream kind {kind!r}; one of: {', '.join(stream_kinds())}."
            )
        client = redis_client()
        if client is None:
            raise CommandError(
                "No Redis for the event stream: set REDIS_URL or EVENT_STREAM_REDIS_URL."
            )
        key = stream_key(kind)
        last = "0-0" if options["from_start"] else "$"
        shown = 0
        while True:
            answer = client.xread({key: last}, count=100, block=options["block_ms"])
            if not answer:
                if options["idle_exit"]:
                    return
                continue
            for entry_id, fields in answer[0][1]:
                last = entry_id
                line = {"stream_id": entry_id, **entry_document(fields)}
                self.stdout.write(json.dumps(line, sort_keys=True))
                shown += 1
                if options["count"] and shown >= options["count"]:
                    return
