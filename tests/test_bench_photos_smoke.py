"""The photo-intake benchmark at a small size, so that `make bench` cannot rot unseen."""

from __future__ import annotations

import io

from PIL import ExifTags, Image

from bench import bench_photos


def test_bench_photo_looks_like_a_phone_photo():
    data = bench_photos.phone_jpeg(4000, 3000)
    assert 3_000_000 <= len(data) <= 5_000_000, len(data)  # what a 12 MP phone JPEG weighs
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (4000, 3000)
        exif = img.getexif()
        assert exif[ExifTags.Base.Orientation] == 6
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert gps[ExifTags.GPS.GPSLatitudeRef] == "N" and len(gps[ExifTags.GPS.GPSLongitude]) == 3


def test_bench_harness_times_the_intake_and_measures_its_memory():
    result = bench_photos.run((800, 600), runs=2)
    assert set(result.timings) == {"process", "decode", "decode_resize"}
    assert all(len(t.wall) == len(t.cpu) == 2 for t in result.timings.values())
    assert result.photos_per_second_per_core > 0 and len(result.ratios) == 2
    # The intake holds at least the decoded frame; tracemalloc sees only the Python side.
    assert result.rss_delta("process") > 0
    assert result.rss_delta("process", "all") >= result.rss_delta("process")
    assert 0 < result.traced["process"]
    table = bench_photos.markdown(result)
    assert "800×600" in table and "| `process(upload, limits)`" in table and "photos/s per core" in table
