"""Images to and from data URLs (the only image transport between the teacher client and servers)."""

from __future__ import annotations

import base64
import binascii
import re

import cv2
import numpy as np

_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp);base64,(.*)$", re.DOTALL)


class MediaError(ValueError):
    """An image part that is not a decodable ``data:image/...;base64`` URL."""


def to_data_url(image: np.ndarray, image_format: str = "png", jpeg_quality: int = 90) -> str:
    """An (H, W, 3) uint8 RGB image as a ``data:image/png|jpeg;base64,...`` URL."""
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    if image_format == "png":
        ok, buffer = cv2.imencode(".png", bgr)
    elif image_format == "jpeg":
        ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        raise ValueError(f"unknown image format {image_format!r} (png or jpeg)")
    if not ok:
        raise ValueError(f"could not encode a {image.shape} image as {image_format}")
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.tobytes()).decode('ascii')}"


def from_data_url(url: str, max_pixels: int = 4096 * 4096) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image in a base64 data URL. Anything else (a path, an http URL) is refused."""
    if not isinstance(url, str):
        raise MediaError("image_url.url must be a string")
    match = _DATA_URL.match(url.strip())
    if not match:
        shown = url[:60] + ("…" if len(url) > 60 else "")
        raise MediaError(f"only base64 data:image/png|jpeg|webp URLs are accepted (files and web URLs are never "
                         f"opened), got {shown!r}")
    try:
        raw = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("image data URL is not valid base64") from None
    array = np.frombuffer(raw, np.uint8)
    header = cv2.imdecode(array, cv2.IMREAD_UNCHANGED) if array.size else None
    if header is None:
        raise MediaError("image data URL does not decode as an image")
    if header.shape[0] * header.shape[1] > max_pixels:
        raise MediaError(f"image of {header.shape[1]}x{header.shape[0]} px exceeds {max_pixels} px")
    if header.ndim == 2:
        return cv2.cvtColor(header, cv2.COLOR_GRAY2RGB)
    if header.shape[2] == 4:
        return cv2.cvtColor(header, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(header, cv2.COLOR_BGR2RGB)
