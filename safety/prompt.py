"""Prompt check: find registered names and aliases however they are disguised.

Normalisation (``variants``): NFKC; invisible characters (zero-width, bidi controls, soft
hyphen, other format characters) removed; case folded; Cyrillic/Greek look-alike letters folded
to the Latin letters they imitate, and separately the text transliterated (anyascii) so that a
name written in another script is found too; diacritics dropped; leetspeak digits/symbols read
as letters; letters spaced out with spaces, dots, dashes or underscores joined back.

Matching (``find``): a registered full name matches when its words appear in sequence, exactly or
within a small edit distance (rapidfuzz OSA distance, one edit per six letters), or with the spaces
between them removed ("JaneExample"). A single-word alias matches exactly, or fuzzily only when it
is long (>= 6 letters). A first name alone never matches a full name: only full names and
registered aliases are searched for. Transliteration is letter by letter: a name spelt out
phonetically in another script ("Джейн" for "Jane") is not found.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii
from rapidfuzz.distance import OSA

# Cyrillic and Greek letters that look like Latin ones (lower case; applied after casefold).
HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "һ": "h", "ӏ": "l", "ο": "o", "α": "a", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k",
    "χ": "x", "υ": "u", "ε": "e", "β": "b", "γ": "y", "ω": "w", "η": "n", "μ": "u", "ϲ": "c", "ℓ": "l",
})
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
                      "9": "g", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"})
INVISIBLE = {"\u00ad", "\u034f", "\u061c", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180e", "\u3164", "\uffa0"}
# Runs of three or more single characters separated by spacing punctuation: "j a n e", "j.a.n.e".
SPACED = re.compile(r"(?<!\w)(?:\w[\s.\-_*~·•]+){2,}\w(?!\w)")
FUZZY_MIN_LEN = 6


def _strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if ch not in INVISIBLE and unicodedata.category(ch) not in ("Cf", "Cc", "Mn")
                   or ch in "\n\t ")


def _ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _join_spaced(text: str) -> str:
    return SPACED.sub(lambda m: re.sub(r"[\s.\-_*~·•]+", "", m.group(0)), text)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def variants(text: str) -> list[str]:
    """The prompt's normalised readings (lowercase ASCII words separated by single spaces)."""
    base = unicodedata.normalize("NFKC", text)
    # Strip invisibles before NFKD so combining marks go with the letter they decorate.
    base = "".join(ch for ch in base if ch not in INVISIBLE and unicodedata.category(ch) != "Cf").casefold()
    readings = {anyascii(_ascii_fold(base.translate(HOMOGLYPHS))), anyascii(_ascii_fold(base))}
    out = []
    for reading in readings:
        reading = reading.lower()
        joined = _join_spaced(reading)
        for form in (joined, joined.translate(LEET)):
            words = _words(form)
            if words and words not in out:
                out.append(words)
    return out


def normalize_name(name: str) -> str:
    """A registered name in the same alphabet (no leetspeak decoding: names are taken as written)."""
    base = unicodedata.normalize("NFKC", name).casefold()
    return _words(anyascii(_ascii_fold(base)).lower())


@dataclass(frozen=True)
class NameMatch:
    name: str
    matched_text: str
    score: float


def _close(a: str, b: str) -> float:
    """Similarity of a prompt word (or joined words) ``a`` to a name ``b``; 0 when not close enough.

    Up to one edit (insertion, deletion, substitution or transposition of neighbours, rapidfuzz's
    OSA distance) per six letters of the name; names shorter than six letters must match exactly.
    """
    if a == b:
        return 100.0
    if len(b) < FUZZY_MIN_LEN:
        return 0.0
    allowed = len(b) // 6
    edits = OSA.distance(a, b, score_cutoff=allowed)
    return 100.0 * (1 - edits / len(b)) if edits <= allowed else 0.0


def match_name(prompt_variants: list[str], name: str) -> NameMatch | None:
    """Whether the registered ``name`` occurs in any reading of the prompt."""
    target = normalize_name(name)
    if not target:
        return None
    want = target.split()
    solid = target.replace(" ", "")
    for reading in prompt_variants:
        words = reading.split()
        n = len(want)
        # Word windows of the name's length (and one shorter/longer, for split or merged words).
        for size in {n - 1, n, n + 1} - {0}:
            for i in range(0, max(0, len(words) - size) + 1):
                window = words[i:i + size]
                if not window:
                    continue
                if size == n and n > 1:
                    # Every word must be close, not only the whole string: "Jane Smith" ≠ "Jane Example".
                    if all(_close(w, t) for w, t in zip(window, want)):
                        return NameMatch(name, " ".join(window), 100.0)
                joined = "".join(window)
                score = _close(joined, solid)
                if score and (n > 1 or size == 1):
                    return NameMatch(name, " ".join(window), score)
    return None


def find(prompt: str, names: dict[str, tuple[str, ...]]) -> dict[str, NameMatch]:
    """person id → first match, over every person's names and aliases."""
    readings = variants(prompt)
    found = {}
    for person_id, person_names in names.items():
        for name in person_names:
            hit = match_name(readings, name)
            if hit:
                found[person_id] = hit
                break
    return found


def mentions(prompt: str, name: str) -> bool:
    return match_name(variants(prompt), name) is not None
