"""The notifications service's contract: the input of its commands and queries.

The notifications service validates with these models; the gateway reads them to check
requests and to publish the OpenAPI document.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.validation import LIST_MAX, Identifier


class DeliveryIds(BaseModel):
    """The deliveries a request names: those to mark read in an inbox, or to replay."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    delivery_ids: list[Identifier] = Field(default_factory=list, max_length=LIST_MAX)
