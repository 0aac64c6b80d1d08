"""What every target's manifest model shares: strict keys and a `kind`; the GPU pool clouds offer.

Each target declares its own model (`targets/<kind>/config.py`) with `kind: Literal["<kind>"]`;
the manifest's `target` is the union of them, told apart by `kind`, so a field of another target is
an error that names it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

ENDPOINT = r"^https?://[^\s]+$"


class TargetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: str = Field(description="where the stack runs")

    def backend_defaults(self) -> dict[str, Any]:
        """What a state backend falls back to when it does not say (a cloud target's region, endpoint)."""
        return {}


class GPU(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="GPU name, e.g. a10g, t4, a100, h100")
    count: int = Field(1, ge=1, description="GPUs in the pool")


def plain_config(kind: str) -> type[TargetConfig]:
    """The model of a target whose section says nothing but its kind."""
    return create_model(f"{kind.title()}Target", __base__=TargetConfig,
                        kind=(Literal[kind], Field(description="where the stack runs")))
