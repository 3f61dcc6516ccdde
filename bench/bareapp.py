"""The faust app of the bare peers (``barefaust.py``, ``baretrades.py``): faust's own
``App`` on the transport and broker settings cryptoflow's worker uses with the local
broker, so a peer differs from cryptoflow's worker only in what its agents do."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TransportT

from cryptoflow.devstack.tansu import TansuTransport
from cryptoflow.settings import Settings


class BareApp(faust.App):
    """faust.App on the transport cryptoflow's worker uses with the local broker."""

    def _new_transport(self) -> TransportT:
        return TansuTransport(self.conf.broker_consumer, self)


def bare_app(app_id: str, settings: Settings, **options: Any) -> BareApp:
    return BareApp(
        app_id, broker=settings.broker, datadir=settings.data_dir, store="memory://",
        topic_partitions=settings.topic_partitions,
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        web_port=settings.web_port, web_bind="127.0.0.1", **options,
    )
