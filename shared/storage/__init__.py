"""Blob persistence for generated images: naming, metadata, download policy, the store."""

from shared.storage.formats import ImageFormat, dimensions, sniff
from shared.storage.metadata import decode_metadata, encode_metadata
from shared.storage.naming import blob_name
from shared.storage.policy import DownloadPolicy
from shared.storage.store import ImageStore, StoredImage

__all__ = [
    "DownloadPolicy",
    "ImageFormat",
    "ImageStore",
    "StoredImage",
    "blob_name",
    "decode_metadata",
    "dimensions",
    "encode_metadata",
    "sniff",
]
