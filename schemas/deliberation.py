"""Deliberation (党群议事) events: a council or hamlet group takes up a topic and sees it through."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.base import EntityId, Event, Family, ShortText, Text

Count = Annotated[int, Meta(ge=0, le=100_000)]


class Votes(msgspec.Struct, frozen=True, kw_only=True):
    in_favour: Count
    against: Count
    abstained: Count = 0


class DeliberationEvent(Event, frozen=True):
    family = Family("topic", "topic_id", unknown="No deliberation topic with this id has been proposed.",
                    exists="A topic with this id was already proposed.")
    topic_id: EntityId


class TopicProposed(DeliberationEvent, tag=True, frozen=True):
    """A council or deliberation group takes up a local matter."""

    creates = True

    title: ShortText
    body: Text = ""


class MeetingHeld(DeliberationEvent, tag=True, frozen=True):
    """The group met on the topic."""

    attendees: Count
    minutes: Text = ""


class TopicDecided(DeliberationEvent, tag=True, frozen=True):
    """The group decided, with the vote where one was taken."""

    decision: Text
    votes: Votes | None = None


class TopicImplemented(DeliberationEvent, tag=True, frozen=True):
    """The decision was carried out; the report says how."""

    report: Text


DELIBERATION_EVENTS = (TopicProposed, MeetingHeld, TopicDecided, TopicImplemented)
