"""The settings services need, as one immutable value built from the app config.

Services receive it as an argument instead of reading `current_app`, so that jobs,
commands and tests pass exactly what they mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ticketing.services.photos import PhotoLimits


@dataclass(frozen=True)
class TicketSettings:
    office_hours: tuple[tuple[str, str], ...]
    timezone: str
    dispatch_city_code: str | None
    photo_limits: PhotoLimits
    nearby_radius_m: float
    # Working hours a supervisor has to answer a deadline-extension request before it goes up a level.
    extension_decision_hours: float = 8.0
    # Report position vs. its photo's EXIF position: further apart flags the ticket for review.
    photo_location_mismatch_m: float = 200.0
    # Evidence check of progress/resolve photos (see ticketing.services.evidence).
    evidence_max_distance_m: float = 300.0
    evidence_dhash_max_distance: int = 6

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TicketSettings:
        """Read the settings from a Flask config (or any mapping with the same keys)."""
        return cls(
            office_hours=tuple(tuple(p) for p in config["OFFICE_HOURS"]),  # type: ignore[misc]
            timezone=config["TIMEZONE"],
            dispatch_city_code=config.get("DISPATCH_CITY_CODE"),
            photo_limits=PhotoLimits(
                max_bytes=int(config["PHOTO_MAX_BYTES"]),
                max_pixels=int(config["PHOTO_MAX_PIXELS"]),
                per_request=int(config["PHOTOS_PER_REQUEST"]),
                max_video_bytes=int(config["VIDEO_MAX_BYTES"]),
                max_request_bytes=int(config["UPLOAD_MAX_BYTES_PER_REQUEST"]),
            ),
            nearby_radius_m=float(config["NEARBY_RADIUS_M"]),
            extension_decision_hours=float(config["EXTENSION_DECISION_HOURS"]),
            photo_location_mismatch_m=float(config["PHOTO_LOCATION_MISMATCH_M"]),
            evidence_max_distance_m=float(config["EVIDENCE_MAX_DISTANCE_M"]),
            evidence_dhash_max_distance=int(config["EVIDENCE_DHASH_MAX_DISTANCE"]),
        )
