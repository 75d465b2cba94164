"""Photos in an S3 bucket (AWS S3, MinIO, or anything else speaking the protocol).

The only module that imports boto3. Credentials are never part of our config: boto3
finds them in its usual places (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the shared
credentials file and AWS_PROFILE, a container or instance role). The credentials need
s3:GetObject, s3:PutObject and s3:DeleteObject on the prefix and s3:ListBucket on the
bucket: without ListBucket, S3 answers a missing key with 403 instead of 404, and the
store could not tell "not there" from "not allowed".
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ticketing.storage import check_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    """A `PhotoStore` on one bucket, every key under `prefix`; originals reach clients by presigned URL."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "suishoupai/",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str = "auto",
    ):
        if addressing_style not in ("auto", "path", "virtual"):
            raise ValueError(f"S3_ADDRESSING_STYLE must be auto, path or virtual, not {addressing_style!r}")
        self.bucket = bucket
        prefix = (prefix or "").strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.addressing_style = addressing_style
        self._client: Any = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix}, endpoint={self.endpoint_url or 'AWS'})"

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use in each process.

        A client made before gunicorn forks would share its connection pool with every
        worker; a fresh boto3 Session per client keeps creation thread-safe.
        """
        if self._client is None or self._pid != os.getpid():
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": self.addressing_style},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
            self._pid = os.getpid()
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise KeyError(key) from None
            raise
        return resp["Body"].read()  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        # S3's DELETE succeeds whether or not the object exists.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def url(self, key: str, *, expires: int) -> str | None:
        """A presigned GET valid for `expires` seconds (signing is local: no request is made)."""
        return self.client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key), "ResponseCacheControl": "private, no-store"},
            ExpiresIn=expires,
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
