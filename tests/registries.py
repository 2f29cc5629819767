"""Large registries for the likeness prompt check (issue 21), shared by tests/test_likeness_prompt.py
and bench/likeness.py: the check must still find the 25 evaluation people, and pass innocent
prompts, when thousands of other names are registered beside them.

- ``synthetic_people``: made-up names of 1-3 common syllables, the densest case for short names.
- ``faker_people``: names as people of 37 locales are named (Faker's first and last names, in
  each locale's script: Cyrillic, Chinese, Japanese, Korean, Arabic, Persian, Devanagari, Thai,
  Greek, Hebrew, Bengali and Latin), the closest we have offline to a real registry.
Both are seeded: the same call gives the same names.
"""

from __future__ import annotations

import random

SYLLABLES = ["ka", "li", "mo", "ra", "ne", "to", "su", "vi", "da", "ren", "mar", "lo", "shi", "an", "el", "bo", "ti",
             "ja", "no", "ve", "ku", "sa", "mi", "or", "lan", "zu", "pe", "ha", "gi", "ro", "ben", "ta", "fe", "ni", "ko"]

FAKER_LOCALES = (
    "en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "pt_BR", "nl_NL", "pl_PL", "sv_SE", "tr_TR",
    "id_ID", "vi_VN", "cs_CZ", "ro_RO", "hu_HU", "fi_FI", "da_DK", "no_NO", "en_NG", "sw", "fil_PH",
    "ru_RU", "uk_UA", "zh_CN", "zh_TW", "ja_JP", "ko_KR", "ar_AA", "fa_IR", "hi_IN", "th_TH", "el_GR", "he_IL", "bn_BD",
)
# Family name first, no space: how these locales write a full name.
FAMILY_FIRST = ("zh_CN", "zh_TW", "ja_JP", "ko_KR")


def synthetic_people(n: int, seed: int = 7) -> dict:
    """``n`` made-up people (2 or 3 words of 1-3 syllables; default short forms), seeded."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3)))).capitalize()

    return {f"s{i}": ((" ".join(word() for _ in range(rng.choice((2, 2, 2, 3)))),), None) for i in range(n)}


def faker_people(n: int, seed: int = 7) -> dict:
    """``n`` distinct people, one locale after another (``FAKER_LOCALES``), default short forms; the
    person id ends with the locale ("f12:de_DE")."""
    from faker import Faker

    fakers = []
    for locale in FAKER_LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        fakers.append((locale, fake))
    out: dict[str, tuple] = {}
    seen: set[str] = set()
    i = 0
    while len(out) < n:
        locale, fake = fakers[i % len(fakers)]
        i += 1
        name = (f"{fake.last_name()}{fake.first_name()}" if locale in FAMILY_FIRST
                else f"{fake.first_name()} {fake.last_name()}")
        if name not in seen:
            seen.add(name)
            out[f"f{len(out)}:{locale}"] = ((name,), None)
    return out
