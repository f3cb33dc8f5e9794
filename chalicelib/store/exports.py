"""Export files in S3 (R18): written by the export worker, read through presigned GETs."""

from __future__ import annotations

from typing import IO

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client

URL_SECONDS = 3600  # a download link is valid at most one hour


class ExportFiles:
    def __init__(self, config: Config) -> None:
        self.bucket = config.exports_bucket
        self._s3 = client("s3")

    def _require_bucket(self) -> None:
        if not self.bucket:
            raise StoreUnavailable("the exports bucket is not configured (OPTOUT_EXPORTS_BUCKET)")

    def put(self, key: str, body: IO[bytes], content_type: str) -> None:
        self._require_bucket()
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, ServerSideEncryption="AES256"
        )

    def download_url(self, key: str, filename: str) -> str:
        self._require_bucket()
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=URL_SECONDS,
        )
        return url
