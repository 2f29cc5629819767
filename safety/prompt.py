"""Prompt check, first version: registered names and aliases found after normalisation.

Normalisation: NFKC, case folding, diacritics removed, zero-width and other format characters
dropped, punctuation turned into spaces. Matching is on whole-word sequences, so a name inside
another word does not match. The likeness issue adds homoglyphs, leetspeak and fuzzy matching.
"""

from __future__ import annotations

import re
import unicodedata


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def mentions(prompt: str, name: str) -> bool:
    """Whether ``name`` (a full name or alias) occurs in ``prompt`` as whole words."""
    needle = normalize(name)
    if not needle:
        return False
    return f" {needle} " in f" {normalize(prompt)} "
