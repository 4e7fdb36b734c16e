"""Images to and from data URLs (the only image transport between the teacher client and servers).

Decoding is for untrusted input (``ffr teacher serve``): the size is read from the image header and checked before a
single pixel is decoded, so a small file that claims 20000x20000 pixels (a decompression bomb) costs nothing."""

from __future__ import annotations

import base64
import binascii
import io
import re

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|webp);base64,(.*)$", re.DOTALL)
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
DEFAULT_MAX_PIXELS = 4096 * 4096


class MediaError(ValueError):
    """An image part that is not a decodable ``data:image/...;base64`` URL within the size limits."""


def to_data_url(image: np.ndarray, image_format: str = "jpeg", jpeg_quality: int = 90) -> str:
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


def from_data_url(url: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image in a base64 data URL. Anything else (a path, an http URL) is refused, and so
    is an image whose header declares more than ``max_pixels`` pixels (checked before decoding)."""
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
    return decode_image(raw, max_pixels)


def decode_image(raw: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """PNG, JPEG or WebP bytes as an (H, W, 3) uint8 RGB array; MediaError for anything else or too many pixels."""
    try:
        with Image.open(io.BytesIO(raw)) as image:  # lazy: reads the header only
            width, height = image.size
            if image.format not in ACCEPTED_FORMATS:
                raise MediaError(f"image data is {image.format}, not one of PNG, JPEG, WebP")
            _check_size(width, height, max_pixels)
            rgb = image.convert("RGB")  # the only decode, after the size check
    except Image.DecompressionBombError as exc:  # PIL's own limit, hit in open() before ours
        raise MediaError(f"image exceeds {max_pixels} px ({exc})") from None
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"image data URL does not decode as an image ({type(exc).__name__})") from None
    return np.array(rgb, dtype=np.uint8)


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise MediaError(f"image of {width}x{height} px is empty")
    if width * height > max_pixels:
        raise MediaError(f"image of {width}x{height} px exceeds {max_pixels} px")
