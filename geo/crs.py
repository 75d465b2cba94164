"""Coordinate systems used by Chinese maps, and conversion to WGS84 (EPSG:4326).

The database stores WGS84 only. Chinese map SDKs (AMap, Tencent) and most Chinese
boundary data report GCJ-02, an obfuscated datum whose offset is a few hundred metres
(about 0.5 km in Qingdao); Baidu adds a second offset on top of it (BD-09). Inputs declare
their system and are converted once, on the way in (DESIGN.md §3).

The GCJ-02 forward transform below is the widely published formula (a polynomial plus
sine terms in metres, scaled to degrees on the Krasovsky 1940 ellipsoid) that the map
SDKs agree with. It has no closed-form inverse, so `gcj02_to_wgs84` iterates.
Everything works on numpy arrays so whole geometries convert in one pass.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

CRS = Literal["wgs84", "gcj02", "bd09"]
SUPPORTED_CRS: tuple[CRS, ...] = get_args(CRS)

# Krasovsky 1940 ellipsoid, which the GCJ-02 formula is defined on.
_A = 6378245.0
_EE = 0.00669342162296594323

# The standard algorithm offsets only inside this rectangle (roughly China's extent, so
# it also shifts e.g. Seoul: that is what the SDKs do, and matching them is the point).
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

# Baidu's BD-09 constant.
_X_PI = np.pi * 3000.0 / 180.0

# The inverse converges by roughly three orders of magnitude per step; these bound it.
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30

_ALIASES: dict[str, CRS] = {
    "wgs84": "wgs84",
    "epsg4326": "wgs84",
    "4326": "wgs84",
    "cgcs2000": "wgs84",  # differs from WGS84 by centimetres: treated as the same
    "gcj02": "gcj02",
    "bd09": "bd09",
    "bd09ll": "bd09",
}

FloatArray = npt.NDArray[np.float64]


class UnsupportedCRS(ValueError):
    """A coordinate system name that is not one of `SUPPORTED_CRS`."""

    def __init__(self, value: object) -> None:
        super().__init__(
            f"unsupported coordinate system {value!r}: use one of {', '.join(SUPPORTED_CRS)}"
        )
        self.value = value


def parse_crs(value: str) -> CRS:
    """Normalise a coordinate system name ('GCJ-02', 'EPSG:4326', 'bd09ll'...); raise UnsupportedCRS."""
    if not isinstance(value, str):
        raise UnsupportedCRS(value)
    norm = value.strip().lower().replace("-", "").replace("_", "").replace(":", "")
    try:
        return _ALIASES[norm]
    except KeyError:
        raise UnsupportedCRS(value) from None


def _in_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (
        (lon >= _CHINA_LON[0])
        & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0])
        & (lat <= _CHINA_LAT[1])
    )


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset (degrees lon, degrees lat) at WGS84 points, ignoring the China box."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    # Terms shared by both polynomials.
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    # The polynomials are in metres on the Krasovsky ellipsoid: scale to degrees using
    # the meridional and prime-vertical radii of curvature at this latitude.
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def _worst(err_lon: FloatArray, err_lat: FloatArray) -> float:
    # NaN coordinates stay NaN and must not keep the loop running.
    both = np.abs(np.concatenate([np.ravel(err_lon), np.ravel(err_lat)]))
    return float(np.nanmax(both, initial=0.0))


def wgs84_to_gcj02_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 → GCJ-02 on arrays; points outside China's box are returned unchanged."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    dlon, dlat = _gcj_delta(lon_a, lat_a)
    inside = _in_china(lon_a, lat_a)
    return np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a)


def gcj02_to_wgs84_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 → WGS84 on arrays by fixed-point iteration (~1e-9 degrees); outside China unchanged."""
    glon = np.asarray(lon, dtype=np.float64)
    glat = np.asarray(lat, dtype=np.float64)
    inside = _in_china(glon, glat)
    wlon, wlat = glon.copy(), glat.copy()
    # The offset varies slowly (its derivative is ~1e-5 per degree), so subtracting the
    # forward error from the estimate is a contraction that converges in a few steps.
    for _ in range(_INVERSE_MAX_ITERATIONS):
        dlon, dlat = _gcj_delta(wlon, wlat)
        err_lon = wlon + dlon - glon
        err_lat = wlat + dlat - glat
        wlon = wlon - err_lon
        wlat = wlat - err_lat
        if _worst(err_lon, err_lat) < _INVERSE_TOLERANCE_DEG:
            break
    return np.where(inside, wlon, glon), np.where(inside, wlat, glat)


def gcj02_to_bd09_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 → BD-09 on arrays (Baidu's published formula; applied everywhere, as Baidu does)."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 → GCJ-02 on arrays: Baidu's approximate inverse, refined to ~1e-9 degrees."""
    blon = np.asarray(lon, dtype=np.float64)
    blat = np.asarray(lat, dtype=np.float64)
    x = blon - 0.0065
    y = blat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    # The published inverse is off by up to ~2e-6 degrees (0.2 m); a few fixed-point steps
    # against the forward formula make BD-09 → GCJ-02 → BD-09 round trips exact.
    for _ in range(_INVERSE_MAX_ITERATIONS):
        flon, flat = gcj02_to_bd09_arrays(glon, glat)
        err_lon, err_lat = flon - blon, flat - blat
        glon, glat = glon - err_lon, glat - err_lat
        if _worst(err_lon, err_lat) < _INVERSE_TOLERANCE_DEG:
            break
    return glon, glat


def _pair(arrays: tuple[FloatArray, FloatArray]) -> tuple[float, float]:
    return float(arrays[0]), float(arrays[1])


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert one WGS84 point to GCJ-02; the caller validates ranges."""
    return _pair(wgs84_to_gcj02_arrays(lon, lat))


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert one GCJ-02 point to WGS84 (iterative, ~1e-9 degrees); the caller validates ranges."""
    return _pair(gcj02_to_wgs84_arrays(lon, lat))


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert one GCJ-02 point to BD-09; the caller validates ranges."""
    return _pair(gcj02_to_bd09_arrays(lon, lat))


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert one BD-09 point to GCJ-02; the caller validates ranges."""
    return _pair(bd09_to_gcj02_arrays(lon, lat))


def to_wgs84_arrays(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of points in `crs` to WGS84; raises UnsupportedCRS, leaves range checks to the caller."""
    system = parse_crs(crs)
    if system == "wgs84":
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if system == "bd09":
        lon, lat = bd09_to_gcj02_arrays(lon, lat)
    return gcj02_to_wgs84_arrays(lon, lat)


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert one point declared in `crs` to WGS84; raises UnsupportedCRS, range checks are the caller's."""
    return _pair(to_wgs84_arrays(lon, lat, crs))


def geometry_to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Return `geom` (declared in `crs`) converted to WGS84 in 2D; validity is left to the caller."""
    system = parse_crs(crs)
    if system == "wgs84":
        # No conversion, but still 2D like every other branch.
        return shapely.force_2d(geom)

    def convert(coords: FloatArray) -> FloatArray:
        lon, lat = to_wgs84_arrays(coords[:, 0], coords[:, 1], system)
        return np.column_stack([lon, lat])

    # One vectorised call over every vertex of every part; include_z=False drops z.
    return shapely.transform(geom, convert, include_z=False)
