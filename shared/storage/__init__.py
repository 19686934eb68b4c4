"""Blob persistence for generated images: naming, metadata, download policy, the store.

Re-exports only the pure names. `ImageStore` (azure-storage-blob) is in `shared.storage.store`
and `DownloadPolicy` (httpx) in `shared.storage.policy`: importing this package, which every
model does for `ImageRecord`, must not load those SDKs on a cold start.
"""

from shared.storage.formats import ImageFormat, dimensions, sniff
from shared.storage.metadata import decode_metadata, encode_metadata
from shared.storage.naming import blob_name
from shared.storage.records import ImageRecord

__all__ = [
    "ImageFormat",
    "ImageRecord",
    "blob_name",
    "decode_metadata",
    "dimensions",
    "encode_metadata",
    "sniff",
]
