"""The explicit, visible label: "AI-generated" (or the operator's text) drawn into the pixels.

China's GB 45438-2025 asks for text at least 5 % of the picture's shortest side; the EU's Code of
Practice shows an "AI" mark. The label is drawn before the watermark, so the watermark, the
fingerprint and the signed pixel hash all describe the labelled picture, and the manifest records
the text, its language and its height. CJK needs a font that has it: Noto Sans CJK (Debian
``fonts-noto-cjk``), found where Debian and fontconfig put it.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from pocketstudio.core.base.errors import GenerationError

from .compliance import MIN_LABEL_HEIGHT

DEFAULT_TEXTS = {"en": "AI-generated", "zh": "人工智能生成", "ja": "AI生成", "ko": "AI 생성", "de": "KI-generiert",
                 "fr": "Généré par IA", "es": "Generado por IA", "it": "Generato dall'IA"}
_FONT_PATHS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
               "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
               "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
               "/System/Library/Fonts/PingFang.ttc")
MAX_TEXT = 64


@dataclass(frozen=True)
class DrawnLabel:
    text: str
    lang: str
    height: int  # the text's ink height in pixels


def default_text(lang: str) -> str:
    return DEFAULT_TEXTS.get(lang.split("-")[0].lower(), DEFAULT_TEXTS["en"])


@lru_cache(maxsize=1)
def font_path() -> str:
    for path in _FONT_PATHS:
        if os.path.isfile(path):
            return path
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:lang=zh"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        if found and os.path.isfile(found) and "CJK" in found:
            return found
    raise GenerationError("the visible label needs a font with CJK text: install Debian's fonts-noto-cjk "
                          "(apt-get install fonts-noto-cjk), or generate without --label")


def draw_label(image: Image.Image, text: str, lang: str) -> tuple[Image.Image, DrawnLabel]:
    """``image`` with ``text`` in the lower left corner on a dark band, its ink at least
    ``MIN_LABEL_HEIGHT`` of the shortest side; the text must fit the width at that height."""
    text = " ".join(text.split())
    if not text or len(text) > MAX_TEXT:
        raise GenerationError(f"the label text must be 1 to {MAX_TEXT} characters")
    shortest = min(image.size)
    need = math.ceil(MIN_LABEL_HEIGHT * shortest)
    path = font_path()
    size = max(6, need)
    while True:
        font = ImageFont.truetype(path, size)
        left, top, right, bottom = font.getbbox(text)
        if bottom - top >= need:
            break
        size += 1
    height = bottom - top
    margin = max(2, shortest // 50)
    pad = max(1, height // 4)
    if right - left + 2 * (margin + pad) > image.width:
        raise GenerationError(f"the label {text!r} does not fit a {image.width} px wide picture at {height} px "
                              "high; use a shorter --label-text or a larger size")
    out = image.convert("RGB")
    overlay = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    x, y = margin, out.height - margin - height - 2 * pad
    draw.rectangle((x, y, x + right - left + 2 * pad, y + height + 2 * pad), fill=(0, 0, 0, 150))
    draw.text((x + pad - left, y + pad - top), text, font=font, fill=(255, 255, 255, 255))
    out = Image.alpha_composite(out.convert("RGBA"), overlay).convert("RGB")
    return out, DrawnLabel(text, lang, height)
