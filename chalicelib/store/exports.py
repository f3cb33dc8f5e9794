"""Job files in S3 (R18): export files (written by the export worker, read through presigned GETs)
and import bodies staged between the API and the import planner (deleted once planned)."""

from __future__ import annotations

from typing import IO, Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client

URL_SECONDS = 3600  # a download link is valid at most one hour


class ExportFiles:
    def __init__(self, config: Config) -> None:
        self.bucket = config.exports_bucket

    @property
    def _s3(self) -> Any:  # made on first use: only jobs read or write files
        return client("s3")

    def _require_bucket(self) -> None:
        if not self.bucket:
            raise StoreUnavailable("the exports bucket is not configured (OPTOUT_EXPORTS_BUCKET)")

    def put(self, key: str, body: IO[bytes], content_type: str) -> None:
        self._require_bucket()
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, ServerSideEncryption="AES256"
        )

    def get(self, key: str) -> bytes | None:
        self._require_bucket()
        try:
            found = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        body: bytes = found["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._require_bucket()
        self._s3.delete_object(Bucket=self.bucket, Key=key)

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
