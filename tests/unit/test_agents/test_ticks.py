"""``cryptoflow-ticks`` crosses faust once: one agent counts and checks every tick."""

from __future__ import annotations

from cryptoflow import app
from cryptoflow.broker.topics import ticks_topic


def test_one_agent_reads_the_stored_ticks() -> None:
    name = ticks_topic.get_topic_name()
    readers = [agent.name for agent in app.agents.values()
               if name in agent.channel.topics]  # type: ignore[attr-defined]
    assert readers == ["cryptoflow.agents.ticks.stored_ticks"]
