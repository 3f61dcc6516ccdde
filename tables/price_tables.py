"""The worker's tables: the latest tick and rolling statistics per symbol.

Keyed by symbol (JSON keys, as every faust table), on event time (the tick's
``ts``), with a changelog per table so a restarted worker recovers them. They
are updated from ``cryptoflow-ticks``, whose JSON keys hash to the same
partitions as the changelogs, so ``table_route`` finds the owner of a symbol.
"""

from __future__ import annotations

from typing import cast

from faust.tables.wrappers import WindowWrapper

from cryptoflow.app import app
from cryptoflow.records import PriceTick
from cryptoflow.tables.stats import RollingStats
from cryptoflow.tables.windows import WINDOWS

# The previous tick of each symbol, for the price-jump rule (survives restarts and
# rebalances through its changelog, like every table).
previous_ticks = app.Table(
    "previous-ticks", key_type=str, value_type=PriceTick,
    partitions=app.settings.topic_partitions,
)

latest_ticks = app.Table(
    "latest-ticks", key_type=str, value_type=PriceTick,
    partitions=app.settings.topic_partitions,
)

# faust's WindowWrapper: its interface type (WindowWrapperT) does not declare relative_to
window_tables = {
    spec.name: cast(WindowWrapper, app.Table(
        f"stats-{spec.name}", default=RollingStats, key_type=str, value_type=RollingStats,
        partitions=app.settings.topic_partitions,
    )
    .tumbling(spec.size, expires=spec.expires)
    .relative_to_field(PriceTick.ts))  # type: ignore[arg-type]  # on the class, a Record's field is its FieldDescriptor
    for spec in WINDOWS.values()
}
