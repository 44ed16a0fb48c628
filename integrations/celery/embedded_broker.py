"""The embedded broker (kombu's SQLAlchemy transport, on SQLite by default) without what it
keeps after a run: kombu marks a delivered message invisible and keeps it for ever, with
the run's unmasked spec (its secrets) in the payload. This transport deletes the message
when it is delivered instead, and on SQLite overwrites deleted content
(``PRAGMA secure_delete``), so no secret outlives its run in ``broker.sqlite3``. Until then
the file is readable by its owner only (0600, made so before SQLite creates it).

Delivery is unchanged: kombu's virtual transport keeps a delivered, unacknowledged message in
the worker's memory and puts it back (``_put``) when it is rejected or its channel closes
unacknowledged, exactly as it does for the invisible row it never reads again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kombu.transport import sqlalchemy as sqla
from kombu.transport.virtual import Empty
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

#: The ``broker_transport`` setting that selects this transport.
TRANSPORT = "runwright.integrations.celery.embedded_broker:Transport"


class Channel(sqla.Channel):
    def _open(self) -> Any:
        # kombu creates its tables on first use with a check-then-create; a worker and a
        # `submit` starting together on a fresh broker file race on it, and the loser's
        # "table kombu_queue already exists" became a lost connection that left the worker
        # unable to shut down. The tables exist then: look again.
        for attempt in range(5):
            try:
                return super()._open()
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _engine_from_config(self) -> Any:
        engine = super()._engine_from_config()
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                from runwright.integrations.django.bootstrap import private_file

                # Pending runs' unmasked specs are in it: the owner's only, like the secret key.
                private_file(Path(database))

            @event.listens_for(engine, "connect")
            def _secure_delete(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA secure_delete = ON")
                cursor.close()
        return engine

    def _get(self, queue: str) -> Any:
        obj = self._get_or_create(queue)
        if self.session.bind.name == "sqlite":
            self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            msg = (
                self.session.query(self.message_cls)
                .with_for_update()
                .filter(self.message_cls.queue_id == obj.id)
                .filter(self.message_cls.visible != False)  # noqa: E712 - SQL, not Python
                .order_by(self.message_cls.sent_at)
                .order_by(self.message_cls.id)
                .limit(1)
                .first()
            )
            if msg is None:
                raise Empty()
            payload = loads(bytes_to_str(msg.payload))
            self.session.delete(msg)  # kombu sets visible=False and keeps the row; we do not
            return payload
        finally:
            self.session.commit()


class Transport(sqla.Transport):
    Channel = Channel
