"""cryptoflow: Binance prices → Kafka topics → MongoDB, as one Faust app.

``faust -A cryptoflow worker`` finds ``app`` here. Importing the modules below
registers everything on it: the ingest timer, the topics, the agents (persist
ticks and dead letters, update the tables, detect price jumps), the scheduled
jobs, the live feed, the broker watch and the web views (the history API's too).
"""

from cryptoflow import commands, jobs  # noqa: F401  (registers them)
from cryptoflow.agents import (  # noqa: F401  (registers the agents)
    book,
    deadletters,
    persist,
    ticks,
    trades,
)
from cryptoflow.app import app
from cryptoflow.broker import topics, watch  # noqa: F401  (registers them)
from cryptoflow.sources import market, poller  # noqa: F401  (registers the timer, streams)
from cryptoflow.web import coverage, feed, history, market_views, views  # noqa: F401  (registers the views)

__all__ = ["app"]
