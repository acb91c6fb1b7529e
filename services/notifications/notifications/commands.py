"""The shape of the notifications commands' input that only this service takes, checked before
the domain sees it (those the gateway also publishes are beside the application)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secret: Annotated[str, Field(max_length=200)] = ""  # the new whsec_ secret; empty: the service makes one
