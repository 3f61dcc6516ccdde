"""cryptoflow: Binance prices → Kafka topics → MongoDB, as one Faust app.

``faust -A cryptoflow worker`` finds ``app`` here. Importing the modules below
registers, in the order a price travels: the ingest timer, the topics, the
agents that persist ticks and dead letters and update the tables, the web views.
"""

from cryptoflow import broker_watch, feed, ingest, topics, views  # noqa: F401  (registers them)
from cryptoflow.agents import (  # noqa: F401  (registers the agents)
    alerts,
    deadletters,
    persist,
    stats,
)
from cryptoflow.app import app

__all__ = ["app"]
