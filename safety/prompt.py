"""Prompt check: find registered names, aliases and chosen short forms however they are disguised.

Readings (``readings``): the prompt is read several ways, each a list of lowercase ASCII words.
NFKC; invisible characters (zero-width, bidi controls, soft hyphen, other format characters)
removed; symbols and emoji made separators; case folded; diacritics dropped; Cyrillic/Greek
look-alike letters folded to the Latin letters they imitate, and separately the text
transliterated (anyascii: Chinese, Japanese and Korean one syllable a word, since those scripts
put no spaces between names and the next word); leetspeak read as letters; letters spaced out
joined back. Each is split two ways: at every non-letter ("tay-lor" → "tay lor") and with the
non-letters inside a word deleted ("Tay❤️lor" → "taylor", "Kim-Jong-Un" → "kimjongun").

Matching (``NameIndex.find``), word by word, never on the whole string:
- a word of a name matches a prompt word exactly, within one edit when the name's word has at
  least ``FUZZY_MIN_LEN`` letters, or by its phonetic key (jellyfish's Metaphone, with the
  sounds other scripts transliterate differently folded together: "svift" = "swift");
- a name of two or more words matches when all its words (articles and particles such as "the",
  "van", "bin" left out) are found, in any order, within a window of a few words ("Obama Barack",
  "Taylor, in a red dress, Swift"); a name written in another script must appear as written;
- a name written as one word ("#KimJongUn", "barackobama") matches a single prompt word, exactly
  or within one edit when long; two or three prompt words joined must match it exactly, so
  "Narendra made" is not "narendramodi";
- a single-word alias or surname matches exactly, or within one edit when long; a name of one word
  after an article ("The Rock") needs the article and the word as written, so "the dock" passes;
- "Initial. Surname" is a short form the person chose (or the default for a distinctive surname).
- a Latin name written in another script is found by its consonant skeleton (``_find_skeletons``),
  read as that script renders foreign names (katakana チ for ti, Mandarin ji for ti, Korean particles,
  Cyrillic/Greek case endings); the short forms the person chose (surname alone, "И. Surname",
  aliases, nicknames) are read the same way and must also sound alike (``_sound_alike``).

``NameIndex`` keeps these keys (words, phonetic keys, one-deletion neighbourhoods of long words,
joined names) in dictionaries, so a prompt costs a few dictionary look-ups per word, not a scan of
every registered name.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import importlib.util
import itertools
import json
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import jellyfish
from anyascii import anyascii

from pocketstudio.core.base.errors import PocketStudioError

# Cyrillic and Greek letters that look like Latin ones (lower case; applied after casefold).
HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "һ": "h", "ӏ": "l", "ο": "o", "α": "a", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k",
    "χ": "x", "υ": "u", "ε": "e", "β": "b", "γ": "y", "ω": "w", "η": "n", "μ": "u", "ϲ": "c", "ℓ": "l",
})
# Capitals of Greek and Cyrillic that look like Latin ones but whose small letters do not: Greek Ν is
# an N (its ν would read v), Η an H (η: n), Ρ a P, Β a B; Cyrillic В a B, Н an H. Read before case folding.
CAPITAL_HOMOGLYPHS = str.maketrans({
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "І": "I", "Ѕ": "S", "Ј": "J",
})
# A word mixing the letters of two scripts (Latin and Armenian ո, օ in "Rihաոոa"; Greek, Cyrillic
# and Armenian in "Εӏοո Μսѕκ") is read with Unicode's confusables (TR39, as shipped by
# confusable-homoglyphs) of one Latin letter. Only such words: a word wholly in one script is a word
# of that script (Cyrillic г is not an r in "город").


@functools.cache
def _confusables() -> dict[int, str]:
    """Character → the one lowercase Latin letter it is confusable with (TR39), besides ``HOMOGLYPHS``."""
    import confusable_homoglyphs

    with open(Path(confusable_homoglyphs.__file__).with_name("confusables.json"), encoding="utf-8") as f:
        data = json.load(f)
    out: dict[int, str] = {}
    for ch, alikes in data.items():
        letters = {a["c"].lower() for a in alikes if len(a["c"]) == 1 and a["c"].isascii() and a["c"].isalpha()}
        if len(ch) == 1 and not ch.isascii() and len(letters) == 1 and not unicodedata.normalize("NFKC", ch).isascii():
            out[ord(ch)] = letters.pop()
    # the prompt is case-folded first: a capital's small letter reads as the capital does (Cherokee Ꮮ, ꮮ),
    # unless it looks like a letter of its own (Greek Ν is an N, its ν a v)
    for o, letter in list(out.items()):
        small = chr(o).casefold()
        if len(small) == 1 and not small.isascii():
            out.setdefault(ord(small), letter)
    return {**out, **HOMOGLYPHS}


def _foreign_words(text: str) -> frozenset[str]:
    """The words of ``text``'s readings that come from words written wholly in a non-Latin script."""
    chunks = [c for c in text.split() if not any("a" <= ch.lower() <= "z" for ch in c)
              and any(ch.isalpha() and ord(ch) > 0x24F and not 0x1E00 <= ord(ch) <= 0x1EFF for ch in c)]
    return frozenset(w for c in chunks for r in readings(c) for w in r) if chunks else frozenset()


def _scripts(word: str) -> set[str]:
    """The scripts of a word's letters, by their Unicode names' first word (LATIN, CYRILLIC, GREEK...)."""
    return {unicodedata.name(ch, "?").split(" ", 1)[0] for ch in word if ch.isalpha()}


def _unconfused(text: str) -> str:
    """``text`` with the look-alike letters of words mixing scripts read as Latin."""
    if text.isascii():
        return text
    return " ".join(w.translate(_confusables()) if not w.isascii() and len(_scripts(w)) > 1 else w for w in text.split(" "))


LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
                      "9": "g", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"})
LEET_L = str.maketrans({"1": "l"})  # a second reading of 1, as l: "M3rk31", "5ch01z"
LEET_SYMBOLS = set("@$!|+€£")
# Letters drawn with several symbols ("|\/|" m, "()" o, "|_|" u, "/-\\" a), and the currency signs
# read as letters before transliteration would spell them out ("€" is not "EUR" but e): read as the
# letters they draw in one more reading of the prompt, longest first.
LEET_DRAWN = {"|\\/|": "m", "/\\/\\": "m", "|\\|": "n", "/\\/": "n", "\\/\\/": "w", "\\^/": "w", "|_|": "u", "|-|": "h",
              "]-[": "h", "}{": "h", ")-(": "h", "/-\\": "a", "/\\": "a", "()": "o", "[]": "o", "|<": "k", "|{": "k", "|2": "r",
              "|3": "b", "|)": "d", "|>": "d", "[)": "d", "|^": "p", "|*": "p", "|=": "f", "|_": "l", "_|": "j", "\\/": "v",
              "><": "x", "'/": "y", "`/": "y", "€": "e", "£": "l", "¥": "y", "©": "c", "®": "r"}
LEET_DRAWN_RE = re.compile("|".join(re.escape(k) for k in sorted(LEET_DRAWN, key=len, reverse=True)))
INVISIBLE = {"\u00ad", "\u034f", "\u061c", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180e", "\u3164", "\uffa0"}
# Runs of three or more single characters separated by spacing punctuation: "j a n e", "j.a.n.e".
SPACED = re.compile(r"(?<!\w)(?:\w[\s.\-_*~·•]+){2,}\w(?!\w)")
FUZZY_MIN_LEN = 6  # a name's word of fewer letters never matches by edit distance
JOINED_MIN_LEN = 7  # a name written as one word is looked for only when this long ("liking" ≠ "Li King")
JOINED_FUZZY_MIN_LEN = 10
WINDOW_EXTRA = 6
# A name split by other words with every word as spelt may spread this far ("Taylor performing in a
# sparkly outfit, last name Swift"), and a word right after one of NAME_CUES counts as written as a name.
WINDOW_WIDE = 40
NAME_CUES = frozenset({"name", "surname", "named", "called", "aka", "nee", "nickname", "firstname", "lastname",
                       "apellido", "nombre", "nom", "cognome", "sobrenome", "nachname", "vorname", "soyadi", "soyad"})
WEAK, SOUND, STRONG = 0, 1, 2
# Words between a name's words that do not split it: its particles as the user spells them ("ben" for "bin").
JOINING = frozenset({"van", "von", "vom", "fon", "fan", "der", "den", "de", "da", "di", "du", "del", "bin", "ben", "ibn", "bint",
                     "al", "el", "la", "le", "jr", "sr"})
# A name matched by sound alone: its words' phonetic keys this long in all, none shorter than 2
# ("eelon musck", "leeonel messee"); a single word of one key letter matches any short word.
SOUND_NAME_MIN_KEY = 5
SHORT_PARTNER_MIN_KEY = 5
RESPELT_MIN = 4  # consonant classes of a Latin name found by its skeleton alone ("jacky chen": SK SN)
RESPELT_SPAN = 4  # prompt words a name found so may take (each word of the name one word)
# A one-word alias found by its sound must also look like it (same first letter, Jaro-Winkler):
# "reeanna" is Rihanna, "reunion" (the same Metaphone key) is not, nor "swift" T-Swift.
SINGLE_SOUND_SIMILARITY = 0.8
SINGLE_SOUND_LONGER = 3  # and be at most this many letters longer: зеленщика (greengrocer's) is no Zelensky
# Not part of a name's fuzzy budget nor required: "The Rock", "Ludwig van Beethoven", "Mohammed bin Salman".
PARTICLES = frozenset({"the", "van", "von", "der", "den", "de", "da", "di", "du", "del", "bin", "ibn", "al", "el",
                       "la", "le", "jr", "sr", "of"})
FORM_KINDS = ("initial-surname", "surname", "nickname")
# A one-word name or short form the prompt itself gives another referent is not the person's:
# "the town of Obama" (PLACE_NOUNS, then "of"), "the Rock of Gibraltar" (an ordinary-word nickname
# followed by "of" and a proper noun), "Alcatraz, known as The Rock" (an appositive naming another
# proper noun: APPOSITIVE_CUES), "Marina Bay Sands (MBS)" (an acronym spelt out beside it).
PLACE_NOUNS = frozenset({"town", "city", "village", "hamlet", "port", "harbor", "harbour", "island", "isle", "islands",
                         "prefecture", "province", "county", "district", "region", "municipality", "borough", "commune",
                         "oblast", "canton", "valley", "river", "lake", "bay", "gulf", "cape", "mount", "peninsula",
                         "straits", "strait", "coast", "shores"})
APPOSITIVE_CUES = (("known", "as"), ("nicknamed",), ("called",), ("aka",), ("dubbed",))
# Letters that are words of their own: "a merkle tree" is not "A. Merkel" unless the surname is exact.
WORD_LETTERS = frozenset("aio")
# An ordinary English word: seen at least this often in pyspellchecker's English frequency list
# (OpenSubtitles counts; about the 30 000 commonest words: "messes", "rock", "mask").
ORDINARY_MIN_COUNT = 1000


@functools.cache
def ordinary_words() -> frozenset[str]:
    """Common English words. A prompt word that is one is not a name's word by its sound alone
    unless it is also within one edit of it ("Lionel messes up" is not Messi, "elon mask" is Musk),
    and a listed alias whose only content word is one ("The Rock") must be written as a name."""
    data = importlib.resources.files("spellchecker") / "resources" / "en.json.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        counts = json.load(text)
    return frozenset(w for w, c in counts.items() if c >= ORDINARY_MIN_COUNT and w.isascii() and w.isalpha())


class FormError(PocketStudioError):
    """A short form is not one of initial-surname, surname, nickname:TEXT (or none)."""


@dataclass(frozen=True)
class ShortForm:
    """A short form a person chose to be found by: "T. Swift", "Swift", or a listed nickname."""

    kind: str  # one of FORM_KINDS
    text: str = ""  # the nickname

    @classmethod
    def parse(cls, spec: str) -> ShortForm:
        kind, _, text = spec.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in FORM_KINDS or (kind == "nickname") != bool(text.strip()):
            raise FormError(f"{spec!r} is not a short form: use initial-surname, surname or nickname:TEXT (or none)")
        return cls(kind, text.strip())

    def spec(self) -> str:
        return f"{self.kind}:{self.text}" if self.text else self.kind


def default_forms(display_name: str) -> tuple[ShortForm, ...]:
    """Forms for a person who chose none: "Initial. Surname" when the surname is distinctive
    enough (five letters or more) to be found that way without blocking ordinary words."""
    core = _core(normalize_name(display_name).split())
    if len(core) >= 2 and len(core[-1]) >= 5 and core[0][0] not in WORD_LETTERS:
        return (ShortForm("initial-surname"),)
    return ()


# -- readings ---------------------------------------------------------------------------------------

def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0x1100 <= o <= 0x11FF or 0x20000 <= o <= 0x2FA1F)


KATAKANA_RUN = re.compile(r"([\u30a0-\u30ff]+)")
SMALL_VOWELS = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o", "ャ": "ya", "ュ": "yu", "ョ": "yo"}
HEBREW_WORD = re.compile(r"[\u05d0-\u05ea][\u05d0-\u05ea\u05f3'\u05f4\"]*")
# Hebrew letters as the Latin letters names are spelt with; the matres lectionis (alef, vav, yod,
# final he, ayin) become vowels, which the phonetic key drops after the first letter, so a
# spelling without vowels ("ברק" → "brk") meets the full one ("Barack").
HEBREW = {"א": "a", "ב": "b", "ג": "g", "ד": "d", "ה": "h", "ו": "o", "ז": "z", "ח": "h", "ט": "t", "י": "i",
          "כ": "k", "ך": "k", "ל": "l", "מ": "m", "ם": "m", "נ": "n", "ן": "n", "ס": "s", "ע": "a", "פ": "f",
          "ף": "f", "צ": "ts", "ץ": "ts", "ק": "k", "ר": "r", "ש": "sh", "ת": "t"}
HEBREW_GERESH = {"ג": "j", "ז": "zh", "צ": "ch", "ת": "th"}


def _hebrew(word: str) -> str:
    """One Hebrew word in Latin letters: "אובמה" → "obma", "סוויפט" → "svift", "טיילור" → "tailor"."""
    word = word.replace("\u05f4", "").replace('"', "")
    out, i = [], 0
    while i < len(word):
        ch, nxt = word[i], word[i + 1:i + 2]
        if nxt in ("\u05f3", "'") and ch in HEBREW_GERESH:
            out.append(HEBREW_GERESH[ch])
            i += 2
            continue
        if ch in "\u05f3'":
            i += 1
            continue
        if ch == "א" and i == 0 and nxt in ("ו", "י"):  # an alef carrying the vowel after it is silent: אובמה "obma"
            i += 1
            continue
        if ch == "ו" and (i == 0 or nxt == "ו"):  # a vav at the start or doubled is a consonant
            out.append("v")
            i += 2 if nxt == "ו" else 1
        elif ch == "י" and nxt == "י":
            out.append("ai")
            i += 2
        else:
            out.append("p" if ch == "פ" and i == 0 else "y" if ch == "י" and i == 0
                       else "a" if ch == "ה" and i == len(word) - 1 else HEBREW.get(ch, ch))
            i += 1
    return "".join(out)


def _katakana(run: str, long_mark_r: bool = True) -> str:
    """A katakana run in Latin letters, closer to the foreign name it spells than anyascii's one
    kana at a time: a small vowel replaces the vowel before it (ティ "ti", ファ "fa", ウィ "wi"),
    and the long mark after an a or o is the English r it usually stands for (テイラー "teirar",
    ピーター "piitar"); after another vowel it repeats it."""
    out = ""
    for ch in run:
        if ch in SMALL_VOWELS and out[-1:] in ("a", "e", "i", "o", "u"):
            small, base = SMALL_VOWELS[ch], out[:-1]
            if small[0] == "y":  # キャ "kya", シャ "sha"
                out = base + small[1:] if base.endswith(("sh", "ch", "j")) else base + small if out[-1] == "i" else out + small
            elif out[-1] == "u" and (not base or base[-1] in "aeiou"):  # ウィ "wi"
                out = base + "w" + small
            else:  # ティ "ti", ファ "fa", チェ "che"
                out = base + small
        elif ch == "ー" and out:
            out += "r" if out[-1] in "ao" and long_mark_r else out[-1] if out[-1] in "eiu" else ""
        elif ch == "ッ":  # the small tsu doubles the next consonant: ジャッキー "jakii", not "jatkii"
            continue
        else:
            out += anyascii(ch)
    return out


def _transliterate(text: str) -> str:
    """anyascii, with one word per syllable of Chinese, Korean and hiragana, one word per run of
    katakana (foreign names are spelt in katakana: テイラー → "teirar"), and Hebrew spelt out."""
    if any("\u05d0" <= ch <= "\u05ea" for ch in text):
        text = HEBREW_WORD.sub(lambda m: _hebrew(m.group(0)), text)
    if not any(_is_cjk(ch) for ch in text):
        return anyascii(text)
    out = []
    for part in KATAKANA_RUN.split(text):
        if KATAKANA_RUN.fullmatch(part):
            out.append(f" {_katakana(part)} ")
        else:
            out.append("".join(f" {anyascii(ch)} " if _is_cjk(ch) else anyascii(ch) for ch in part))
    return "".join(out)


# -- consonant skeletons --------------------------------------------------------------------------
# How a name is written in another script depends on the language's conventions (Russian дж/э/ы,
# Palladius си/цзин for xi/jing, Kontsevich чон for jong, Greek μπ/ντ/γκ for b/d/g, Arabic without
# short vowels, Hebrew matres lectionis, Hindi anusvara, Korean and Japanese epenthetic vowels,
# Chinese syllables for foreign names). They agree on the consonants, by place of articulation,
# and differ in vowels, voicing and the sibilant used. A skeleton keeps one class per consonant:
# P labials (p b f v), T dentals (t d th), K velars (k g c q), S sibilants and affricates (s z sh ch
# j x ts), M, N (n, ng), L liquids (l r: Japanese, Korean, Chinese), and drops vowels, h, w and y.
SKELETON_RULES = [
    (re.compile(r"d[zj]h?|t[sz]+"), "j"), (re.compile(r"kh"), "h"), (re.compile(r"ph"), "f"), (re.compile(r"[td]h"), "t"), (re.compile(r"sch|tch|ch"), "s"),
    (re.compile(r"ng+"), "N"), (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"ck|gh"), "k"),
]
SKELETON_CLASSES = str.maketrans({**dict.fromkeys("szjx", "S"), **dict.fromkeys("bpfv", "P"), **dict.fromkeys("td", "T"),
                                   **dict.fromkeys("kgcq", "K"), "m": "M", "n": "N", "l": "L", "r": "L",
                                   **dict.fromkeys("aeiouhwy", None)})
# The shortest skeleton looked for: of a name of several words written in words (Cyrillic, Greek,
# Arabic, Hebrew, Indic, katakana runs); in Chinese or Hangul syllables, where any run of syllables
# is a candidate; of a one-word name (the alias "T-Swift" is not "το σπίτι").
SKELETON_MIN, SKELETON_MIN_SYLLABLES, SKELETON_MIN_ONE_WORD = 4, 5, 5
# A short form the person chose (surname alone, "Initial. Surname", an alias or nickname) is looked
# for from this many classes ("Obama" PM), when it also sounds alike (``_sound_alike``).
SKELETON_MIN_SHORT = 2
# Cyrillic and Greek case endings that add a consonant (Путиным, Зеленського, Βλαδίμηρος): a word
# is also read without one.
CASE_ENDING = re.compile(r"(?:[oe]go|[oe]mu|y?ami|[yi]m|[oe]m|[yi]?akh|[yi]kh|[oe]vi|[oe]v|[oaeiy]s)$")
# Korean particles written onto the word before them (푸틴이, 메르켈의, 툰베리는, 비욘세와) and Chinese function characters
# (的, 在): a word may end before them and begin after them. Each particle: True after a final
# consonant, False after a vowel, None after either. One syllable that also ends names (로: 폴로, 도:
# 올랜도, 나: 리한나, 만: 살만) is left out. Titles written onto a name (시진핑주석, 손흥민선수) end it too, and a
# particle may follow a particle or a title (메르켈총리와, 오바마에게는).
HANGUL_PARTICLES = {"이": True, "은": True, "을": True, "과": True, "으로": True, "이랑": True, "이와": True,
                    "가": False, "는": False, "를": False, "와": False, "랑": False,
                    "의": None, "에": None, "에서": None, "에게": None, "한테": None, "께서": None, "까지": None,
                    "부터": None, "처럼": None, "보다": None, "하고": None, "에게는": None}
HANGUL_TITLES = ("대통령", "전대통령", "총리", "주석", "위원장", "국무위원장", "선수", "감독", "여사", "왕세자", "총재",
                 "씨", "님")
HANGUL_SUFFIXES = tuple(sorted((*HANGUL_PARTICLES, *HANGUL_TITLES), key=len, reverse=True))  # longest first
HAN_BOUNDARIES = frozenset("的在和与是了跟把被给对")
# A skeleton length is crowded when more than this share of its possible skeletons is registered.
SKELETON_CROWDED = 0.01
SYLLABLES = ("han", "hangul", "thai")  # kinds whose tokens are syllables or short words, a name's word taking several
SKELETON_SPAN = 12  # prompt tokens (syllables for Chinese and Korean) one name may take
SKELETON_GROUP = {"word": 3, "indic": 3, "vowels": 3, "kana": 1, "han": 6, "hangul": 6, "thai": 6}  # tokens one word of a name may take
GREEK_DIGRAPHS = [("μπ", "b"), ("ντ", "d"), ("γκ", "g"), ("γγ", "ng"), ("τζ", "j"), ("τσ", "ts"), ("χ", "h"),
                  ("ου", "u"), ("γι", "y"), ("γε", "ye"), ("γη", "y")]  # γ before a front vowel is a y: Μπιγιονσέ, Γιώργος
# Anusvara and the like as n: Devanagari, Bengali, Gurmukhi (bindi, tippi: ਨਰਿੰਦਰ), Gujarati, Oriya, Telugu,
# Kannada, Malayalam (anyascii spells some as m).
NASAL_SIGNS = str.maketrans(dict.fromkeys("\u0901\u0902\u0981\u0982\u0a02\u0a70\u0a82\u0b02\u0c02\u0c82\u0d02", "n"))


@functools.lru_cache(maxsize=1 << 16)  # names share words: the index build reads each once
def skeleton(word: str) -> str:
    """The consonant classes of a Latin word, repeats collapsed: "taylor" and テイラー "teira" → "TL",
    "obama" and Arabic "wbm" → "PM", "jinping" and Палладий "tszin'pin" → "SNPN"."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for pattern, repl in SKELETON_RULES:
        w = pattern.sub(repl, w)
    return "".join(k for k, _ in itertools.groupby(w.translate(SKELETON_CLASSES)))


# How other scripts render the sounds of a name, as rewrites of its letters, each applied or not:
# a g before e or i as j (Angela: أنجيلا), a w as v (Ludwig: Людвиг), ng before a vowel as n-g
# (Angela: 앙겔라), th as s (Luther: ルーサー, 루서), an English u in a closed syllable as a (Musk: Маск,
# マスク); Japanese and Mandarin syllables: ti and di as chi and ji (Putin: プーチン, 普京), tu as tsu,
# hu as fu (Heung-min: フンミン).
NAME_READINGS = [(re.compile(a), b) for a, b in (
    (r"g(?=[eiy])", "j"), (r"w", "v"), (r"ng(?=[aeiou])", "nk"), (r"(?!^the$)th", "s"), (r"u(?=[^aeiouy]{2}|[^aeiouy]$)", "a"),
    (r"^the$", "de"),  # the article's voiced th, never an s: 더 록 (수학, mathematics, is not The Rock)
    (r"^moh?amm?e?d$", "muhammad"))]  # the Arabic original's vowels: ムハンマド, 무함마드, 穆罕默德
# An r before a consonant or at the end silent, as English names are written in kana, Hangul and
# Chinese (Martin: マーティン, 마틴, 马丁), not in Hebrew or Arabic (מקרר is not Merkel).
SILENT_R = (r"(?<=[aeiou])r(?=[^aeiouy]|$)", "")
# An l before a consonant as Portuguese says it, u (Ronaldo: ロナウド); Chinese leaves it out (羅納度).
VOCAL_L = (r"(?<=[aeiou])l(?=[^aeiouy])", "u")
SWEDISH_BERG = (r"(?<=r)g$", "i")  # as the name's language says it: Thunberg トゥーンベリ, 툰베리, 通贝里
# Readings of one script only: katakana ti, di, tu, hu as チ, ヂ, ツ, フ (Putin: プーチン, Heung-min:
# フンミン), an -er or -or as the a of a long mark (テイラー, ルーサー); Mandarin ti, ki as ji (Putin: 普京, Zelensky: 泽连斯基) and an r after a consonant left out
# (Macron: 馬克宏); Korean as the name's own language says it: a Portuguese initial r as h (Ronaldo:
# 호날두, a Romance name ending in a vowel: Rock is 록, never 학); Arabic and Hebrew g as j (Egyptian ج is g: جريتا); katakana writes the article "the" ザ.
SCRIPT_READINGS = {script: [(re.compile(a), b) for a, b in rules] for script, rules in {
    "kana": (SILENT_R, SWEDISH_BERG, VOCAL_L, (r"eu", "u"), (r"mm", "nm"), (r"^the$", "za"), (r"[eo]r(?=[^aeiouy]|$)", "a"), (r"t(?=i)", "ch"), (r"d(?=i)", "j"), (r"t(?=u)", "ts"), (r"h(?=u)", "f")),
    "han": (SILENT_R, SWEDISH_BERG, (r"mm", "nm"), (r"(?<=[aeiou])l(?=[^aeiouy])", ""), (r"^j(?=o)", "y"), (r"t(?=i)", "j"), (r"k(?=[iy])", "j"), (r"(?<=[bcdfgkpt])r", "")),
    "hangul": (SILENT_R, SWEDISH_BERG, (r"^r(?=[aeiou].*[aeiou]$)", "h"), (r"o(?=ck$)", "a")),  # American rock: 락
    "word": ((r"g", "j"), (r"kh", "k"), SWEDISH_BERG),
    "thai": (),  # ``_thai_form``
    "latin": (SILENT_R, SWEDISH_BERG, (r"[eo]r$", "a")),  # respelt in Latin letters as said: "Marteen Lutha", "Tunberi"
}.items()}
NAME_READINGS_MAX = 64  # readings kept per name (the product over its words)


def _thai_form(word: str) -> str:
    """A word of a name as Thai spells it, in the Royal Institute's letters: an r after a vowel
    silent, g as k, z as s, v as w; at a syllable's end l as n, s as t, f and v as p, and of two
    consonants only the first (Swift สวิฟต์ "swip", Musk มัสก์ "mat", Ronaldo โรนัลโด้ "ronando")."""
    w = re.sub(r"(?<=[aeiou])r(?=[^aeiouy]|$)", "", word)
    w = w.replace("g", "k").replace("z", "s").replace("v", "w").replace("ph", "p").replace("th", "t").replace("ck", "k")
    w = re.sub(r"(?<=[aeiou][^aeiouy])[^aeiouy]+$", "", w)
    return re.sub(r"(?<=[aeiouy])[lsfw](?=[^aeiouy]|$)", lambda m: {"l": "n", "s": "t", "f": "p", "w": "p"}[m.group(0)], w)


@functools.lru_cache(maxsize=1 << 16)  # computed once per word and script, not once per name
def _word_readings(word: str, script: str = "") -> tuple[tuple[str, str, str], ...]:
    """(skeleton, first vowel, letters) of every reading of one word of a name."""
    forms = {word}
    for pattern, repl in NAME_READINGS + SCRIPT_READINGS.get(script, []):
        forms |= {pattern.sub(repl, f) for f in forms}
    if script == "thai":
        forms |= {_thai_form(f) for f in forms}
    return tuple((skeleton(f), _first_vowel(f), f) for f in sorted(forms))


def _name_skeletons(words: tuple[str, ...], script: str = "") -> set[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """A name's skeletons, with the readings other languages give its letters (``NAME_READINGS``,
    and those of one ``script``, ``SCRIPT_READINGS``). Each is (every word's skeleton, every word's first
    vowel as that reading sounds it: "dvayne" has a front one, "dwayne" a back one, every word as read)."""
    out: set[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {((), (), ())}
    for word in words:
        forms = _word_readings(word, script)
        if len(out) * len(forms) > NAME_READINGS_MAX:
            forms = ((skeleton(word), _first_vowel(word), word),)
        out = {((*o, k), (*v, f), (*r, w)) for o, v, r in out for k, f, w in forms}
    return out


@functools.lru_cache(maxsize=1 << 16)  # pure, and called for every candidate span
def _slots(word: str, part_y: bool = False) -> tuple[str, ...]:
    """The vowels around a word's consonant classes, one slot before, between and after them (so
    one more than its skeleton is long): "putin" → ("", "u", "i", ""), "obama" → ("o", "a", "a").
    ``part_y``: a y between vowels stays in the slot, so the vowel before it is read alone."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for pattern, repl in SKELETON_RULES:
        w = pattern.sub(repl, w)
    slots, last = [""], ""
    for i, ch in enumerate(w):
        cls = ch.translate(SKELETON_CLASSES)
        if ch in "aeiou" or (ch == "y" and w[i + 1:i + 2] not in tuple("aeiou")) or (ch == "w" and i and w[i - 1] not in "aeiou"):
            slots[-1] += "u" if ch == "w" else ch
        elif part_y and ch == "y" and slots[-1]:  # spelt letter by letter, "beyonce" has an e, not Korean eo
            slots[-1] += "y"
        elif cls and cls != last:
            slots.append("")
            last = cls
    return tuple(slots)


# Where a script writes every vowel (kana, Hangul, Indic), the vowels a name's vowel letter is written
# with: an a as a or e (テイラー, 해리스), an e as e or i (ベートーヴェン, 베토벤; in Indic scripts also a: मर्केल),
# an i as i or e, an o as o or u, an u as u, a or o (マスク, 머스크), a y as i or e.
WRITTEN_VOWELS = {"a": "ae", "e": "ei", "i": "ie", "o": "ou", "u": "uao", "y": "ie"}
SPELT_VOWELS = ("kana", "hangul", "indic", "thai")
VOICED, VOICELESS = frozenset("bdg"), frozenset("ptkcq")


def _vowel_letter(slot: str, kind: str = "") -> str:
    """The vowel a slot is written with, as one letter: Korean eu (the vowel Hangul adds after a
    consonant) is "+" (added), eo (English u, er: 머스크, 버락) is "*" (any), ae is e; Indic ai is a
    (हैरिस), au is o; "" for none."""
    if kind == "thai" and slot.startswith(("oe", "ue", "ae")):  # Thai เ-อ is any unstressed vowel (เทย์เลอร์), แ- an e
        return {"oe": "*", "ue": "u", "ae": "e"}[slot[:2]]
    if kind == "hangul" and slot.startswith("eu"):
        return "+"
    if kind == "hangul" and slot.startswith("eo"):
        return "*"
    if slot.startswith("eu"):  # a Korean name's own vowel: Heung (フン); an eo is an e and an o (Leo, Leonardo)
        return "u"
    if slot.startswith("au"):
        return "o"
    return slot[:1]


def _pinyin_vowel(slot: str) -> str:
    """A pinyin final as the vowel it sounds: a glide i or u before a vowel left out (多 duo, 肖 xiao),
    ao an o (奥巴马)."""
    slot = re.sub(r"^[iu](?=[aeiou])", "", slot)
    return "o" + slot[2:] if slot.startswith("ao") else slot


def _letter_vowels(slot: str) -> set[str]:
    """The vowel classes the letters of an Arabic or Hebrew vowel slot may stand for (y: front, w: back)."""
    return {"front" if ch in "aeiy" else "back" for ch in slot if ch in "aeiouyw"}


def _fine_alike(a: str, b: str, kind: str) -> bool:
    """The name's vowel slot ``a`` and the written one ``b`` agree letter by letter (``WRITTEN_VOWELS``)."""
    va, vb = _vowel_letter(a), _vowel_letter(b, kind)
    return not va or vb in ("*", "+", "") or vb in WRITTEN_VOWELS.get(va, va) + ("a" if kind == "indic" and va == "e" else "")


def _voicing_alike(name_word: str, written: str) -> bool:
    """The first consonant voiced or voiceless in both, where the script tells them apart (pinyin,
    Hangul and kana: 普丁 is Putin, 布丁 pudding is not; 부 is not 푸)."""
    a, b = name_word[:1], written[:1]
    return not (a in VOICED | VOICELESS and b in VOICED | VOICELESS) or (a in VOICED) == (b in VOICED)


@functools.lru_cache(maxsize=1 << 16)  # pure, and called for every candidate span
def _consonants(word: str) -> tuple[str, ...]:
    """The letter that begins each consonant class of a word's skeleton: "pudina" → p, d, n."""
    w = re.sub(r"[^a-z]", "", word.lower())
    for pattern, repl in SKELETON_RULES:
        w = pattern.sub(repl, w)
    out, last = [], ""
    for ch in w:
        cls = ch.translate(SKELETON_CLASSES)
        if cls and cls != last:
            out.append(ch)
            last = cls
    return tuple(out)


def _stops_alike(name_word: str, written: str, kind: str, dentals_only: bool = False) -> bool:
    """Every stop voiced or voiceless in both, where the script writes voicing (kana, Indic but
    Tamil, Cyrillic, Greek; Arabic and Hebrew their t and d): पुदीना, プディング, פודינג are not
    Putin. Arabic has no p and writes it b (بوتين)."""
    mine, theirs = _consonants(name_word), _consonants(written)
    if len(mine) != len(theirs):
        return True
    for a, b in zip(mine, theirs, strict=True):
        if dentals_only and not {a, b} <= set("td"):
            continue
        if kind == "word" and a == "p" and b == "b":
            continue
        if a in VOICED | VOICELESS and b in VOICED | VOICELESS and (a in VOICED) != (b in VOICED):
            return False
    return True


# Letters that end an Arabic-script or Hebrew word in a vowel (anyascii drops the alif).
FINAL_VOWEL_LETTERS = frozenset("اآأةىيیےوۍهהויא")


CYRILLIC_GREEK_VOWELS = frozenset("аеёиоуыэюяіїєўйαεηιουωάέήίόύώϊϋΐΰ")


def _written_ending(written: str) -> str:
    """Whether a Cyrillic or Greek word ends in a vowel letter (й too: Обамой) or a consonant (Рональд)."""
    letters = [ch for ch in written.lower() if ch.isalpha() and ch not in "ьъ"]
    return "vowel" if letters and letters[-1] in CYRILLIC_GREEK_VOWELS else "consonant"


def _ends_in_vowel(written: str) -> bool:
    letters = [ch for ch in written if unicodedata.category(ch)[0] == "L"]
    return bool(letters) and letters[-1] in FINAL_VOWEL_LETTERS


def _sound_alike(forms: tuple[str, ...], span: list[tuple[str, bool, str, bool]],
                 groups: tuple[tuple[int, int], ...], kind: str) -> bool:
    """A short name (a surname alone, a nickname) matched by its skeleton must also sound alike: the
    vowels between its consonants are where the name has them and of its kind (front a/e/i, back
    o/u), as the script writes them. Arabic, Hebrew and Indic leave short vowels out (a vowel
    missing agrees); kana, Hangul and Chinese syllables add vowels after consonants (ショルツ,
    마크롱, 马克龙: a vowel added agrees; Chinese ao is an o: 奥巴马); the last slot is free (case endings:
    Путина, epenthetic vowels: ロック) unless the name ends in a vowel (not a silent e) in a script that spells every
    vowel (로날드 is not Ronaldo). Where every vowel is spelt (kana, Hangul, Indic) the vowels agree
    letter by letter (``WRITTEN_VOWELS``: メルカリ is not Merkel, पूतना not Putin), and in kana, Hangul
    and Chinese the first consonant's voicing too (``_voicing_alike``)."""
    j, w = 0, 0
    if any("`" in t[0] for t in span):  # Arabic ayn: a consonant no foreign name is written with (معكرونة)
        return False
    for n_words, n_toks in groups:
        mine = _slots("".join(forms[w:w + n_words]))
        letters = "".join(t[0] for t in span[j:j + n_toks])
        cyrillic = kind == "vowels" and "\u0400" <= span[j][4][:1] <= "\u04ff"
        theirs = _slots(letters)
        if len(mine) != len(theirs):
            return False
        if kind in ("kana", "hangul", "han") and not _voicing_alike(forms[w], span[j][0]):
            return False
        if kind in ("kana", "hangul") and re.match(r"[^aeiouy]+y[aeiou]", forms[w]) and not re.match(
                r"[^aeiouy]*(y|i(?=[aeiou]))", span[j][0]):
            return False  # both write a glide after a consonant (뇽오, ニョンゴ, 리옹): 녹고 is not Nyong'o
        if kind == "thai" and re.search(r"ng(?![aeiou])", letters) and not re.search(
                r"n[gkc]|[aeo]n$", "".join(forms[w:w + n_words])):
            return False  # Thai writes a final n (น) and ng (ง) apart, ง for a name's n only as French nasal (มาครง): พุดดิ้ง is not Putin
        tamil = any("\u0b80" <= ch <= "\u0bff" for ch in span[j][4])
        if (kind in ("kana", "indic", "vowels") and not tamil or kind == "word") and not _stops_alike(
                "".join(forms[w:w + n_words]), letters, kind, dentals_only=kind == "word"):
            return False
        if kind in ("kana", "hangul", "han", "thai") and not mine[0] and theirs[0]:
            return False  # these scripts add vowels after a consonant, never before the first (衣服上 is not 普京)
        if kind in ("kana", "hangul", "vowels") and not mine[-1] and re.match(r"i[aeou]", theirs[-1]):
            return False  # a name ending in a consonant takes one added vowel or a case ending, not -ia: Тунбергия, ツンベルギア (a plant)
        if kind == "word" and _sibilants_apart("".join(forms[w:w + n_words]), letters):
            return False  # نحاسية (copper) is not Nyong'o read as نيونجو
        if cyrillic and _hushing_apart("".join(forms[w:w + n_words]), span[j:j + n_toks]):
            return False
        if (kind == "vowels" and mine[-1] not in ("", "e") and _written_ending(span[j + n_toks - 1][4]) == "consonant"
                and not CASE_ENDING.search(re.sub(r"[^a-z]", "", anyascii(span[j + n_toks - 1][4]).lower()))):
            return False  # Cyrillic and Greek end a name with its vowel or a case ending (Роналдом): Рональд is Ronald, not Ronaldo
        if kind == "word" and "ng" in letters and not re.search(r"n[gkc]", "".join(forms[w:w + n_words])):
            return False  # Arabic script writes a name's ng as نگ or نغ: پتنگ (kite) and رنگ are not Putin and Rihanna
        if kind == "word" and mine[0] and span[j][0][:1] not in tuple("aeiouyw'`"):
            return False  # Arabic and Hebrew write a name's first vowel (אובמה, أوباما): במה (a stage) is not Obama
        if kind == "word" and n_toks == 1 and mine[-1] != "e" and bool(mine[-1]) != _ends_in_vowel(span[j][4]):
            return False  # Arabic and Hebrew write a final vowel: ريحان is not Rihanna, מקרוני not Macron
        if kind == "word" and mine[-1][-1:] == "a" and span[j + n_toks - 1][4][-1:] in ("\u0629", "\u0647"):
            return False  # a foreign name's final a is an alif (ريهانا, اوباما); ة and Persian ه end native words: ريحانة, ریحانه
        if kind in SPELT_VOWELS and mine[-1] not in ("", "e") and not (_vowel_letter(theirs[-1], kind) not in ("", "+")
                                                      and _fine_alike(mine[-1], theirs[-1], kind)):
            return False
        if kind == "han" and mine[-1] not in ("", "e") and not _fine_alike(mine[-1][-1], _pinyin_vowel(theirs[-1]), kind):
            return False  # Chinese writes a name's last vowel too: 罗纳尔多 is Ronaldo, 罗纳尔迪(尼奥) is not
        spelt = _slots("".join(forms[w:w + n_words]), part_y=True)
        for k, (a, b, fine) in enumerate(zip(mine[:-1], theirs[:-1], spelt, strict=False)):
            if kind in SPELT_VOWELS and not _fine_alike(fine, b, kind):
                return False
            if cyrillic and {_vowel_letter(fine), b[:1]} == {"o", "u"}:
                return False  # Cyrillic keeps a name's o and u apart: Шульц is Schulz, not Scholz (Шольц)
            if kind == "hangul" and fine == "o" and b.lstrip("y")[:1] == "u":
                return False  # so does Hangul but at a name's end (호날두): 슐츠 is Schulz, Scholz is 숄츠
            if kind in SPELT_VOWELS and "y" in fine[1:-1] and not _fine_alike(fine[-1], b[-1:], kind):
                return False  # two vowels a y parts are two syllables, both written: 비욘세 is Beyoncé, 빙수 is not
            # the name's vowel as spelt: beyonce's e is front (a y parts it from the o, it is no Korean eo)
            if kind == "han" and re.match(r"i[aeou]", b):
                b = b[1:]  # pinyin i before a vowel is a glide: 肖 xiao has the o of Scholz
            va, vb = _first_vowel(fine if a else a), "back" if kind == "han" and b.startswith("ao") else _first_vowel(b)
            if kind == "word" and va and b and va in _letter_vowels(b):
                vb = va  # Arabic ي and و are vowels or glides: بيونسيه "bywnsyh" has the e of Beyoncé
            if kind == "hangul" and b.startswith("eo") or kind == "han" and a and b and _vowel_letter(fine) == "e":
                vb = va  # Hangul eo is any unstressed vowel (카멀라, 버락); Chinese writes an e with any vowel (默克尔)
            if va and vb:
                if va != vb:
                    return False
            elif va and kind not in ("word", "indic") or vb and (kind not in ("kana", "hangul", "han") or b.startswith("a")) and not (
                    kind == "indic" and b == "a" and theirs[k + 1]):  # an inherent a not said before a vowel's consonant (রোনালদো, not ਸੂਰਜ)
                return False  # an added vowel is a high or mid one (ク, 크, 克), not an a: マカロン is not マクロン
        j, w = j + n_toks, w + n_words
    return True


# -- common words of other languages ---------------------------------------------------------------
# A name's short form read in a word that is a common word of the prompt's language (葡萄, 포도,
# पुदीना, מקרוני) is likely that word: it completes the short form only when it sounds exactly
# alike (``_strictly_alike``), and in a full name it counts as half the evidence. wordfreq's
# "small" lists (words seen at least once per million in its corpora; names of famous people are
# among them) are read from its data files directly: a single-word look-up needs neither its
# tokenizers (jieba, MeCab) nor its import (ftfy, langcodes), and a list is loaded only when a
# word of its script first matches a registered name's skeleton.
COMMON_LANGUAGES = (  # (first code point, last, wordfreq languages written so)
    (0x0370, 0x03FF, ("el",)), (0x0400, 0x04FF, ("ru", "uk", "bg", "mk")), (0x0590, 0x05FF, ("he",)),
    (0x0600, 0x06FF, ("ar", "fa", "ur")), (0x0900, 0x097F, ("hi",)), (0x0980, 0x09FF, ("bn",)), (0x0B80, 0x0BFF, ("ta",)),
    (0x3040, 0x30FF, ("ja",)), (0x3400, 0x9FFF, ("zh", "ja")), (0xAC00, 0xD7AF, ("ko",)), (0xF900, 0xFAFF, ("zh", "ja")),
)
COMMON_MAX_CB = 600  # centibels below 1: 600 is once per million words (Zipf 3)


def _wordfreq_data(name: str) -> Path:
    spec = importlib.util.find_spec("wordfreq")  # locates the package without importing it
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "data" / name


@functools.cache
def _common_words(lang: str) -> frozenset[str]:
    """The words of ``lang`` seen at least once per million (wordfreq's cBpack: a header, then one
    list of words per centibel of frequency)."""
    import msgpack

    with gzip.open(_wordfreq_data(f"small_{lang}.msgpack.gz")) as f:
        packed = msgpack.unpack(f, raw=False)
    return frozenset(itertools.chain.from_iterable(packed[1:COMMON_MAX_CB + 2]))


@functools.cache
def _simplified() -> dict[int, str]:
    """Traditional to simplified Chinese, character by character (wordfreq's Chinese list is simplified)."""
    import msgpack

    with gzip.open(_wordfreq_data("_chinese_mapping.msgpack.gz")) as f:
        return msgpack.unpack(f, raw=False, strict_map_key=False)


# A registered Chinese alias inside a longer set phrase of the language is part of that phrase:
# 望子成龙 ("hoping one's son becomes a dragon") holds 成龙 (Jackie Chan), and means no one. The
# phrases are jieba's dictionary (shipped in wordfreq's data) of IDIOM_MIN_EXTRA characters more
# than the alias or longer; a phrase only one character longer (和普京, 柳成龙) may be a word
# stuck to the name or another person, so it hides nothing.
IDIOM_MIN_EXTRA = 2
# A Chinese name of fewer characters than this is found by characters of the same sound only where they
# are words of their own (成隆 for 成龙): any two syllables of a sentence are some name among thousands
# (竹林里 sounds as 林丽, 浮世絵 holds 史辉's "shi hui").
HAN_HOMOPHONE_MIN = 3
IDIOM_MAX_LEN = 8


@functools.cache
def _chinese_phrases() -> frozenset[str]:
    """jieba's dictionary words of four characters or more, simplified."""
    with open(_wordfreq_data("jieba_zh_orig.txt"), encoding="utf-8") as f:
        return frozenset(w for w in (line.split(" ", 1)[0] for line in f) if 4 <= len(w) <= IDIOM_MAX_LEN)


def _han_alias_in_phrases_only(alias: str, prompt: str) -> bool:
    """Every occurrence of a Chinese ``alias`` in ``prompt`` lies inside a set phrase at least
    ``IDIOM_MIN_EXTRA`` characters longer (both simplified). False where it does not occur as written
    (a homophone spelling is still the name)."""
    text, phrases, n = prompt.translate(_simplified()), _chinese_phrases(), len(alias)
    starts = [m.start() for m in re.finditer(re.escape(alias), text)]
    return bool(starts) and all(
        any(text[a:b] in phrases for a in range(max(0, at - IDIOM_MAX_LEN + n), at + 1)
            for b in range(max(at + n, a + n + IDIOM_MIN_EXTRA), min(len(text), a + IDIOM_MAX_LEN) + 1))
        for at in starts)


@functools.lru_cache(maxsize=1 << 14)
def common_word(written: str) -> bool:
    """A common word of a language its script writes ("布丁", "פודינג", "젤리"; also "Путин")."""
    word = "".join(ch for ch in unicodedata.normalize("NFC", written).casefold() if unicodedata.category(ch) != "Mn"
                   or not "\u0590" <= ch <= "\u06ff")
    first = ord(word[0]) if word else 0
    for lo, hi, langs in COMMON_LANGUAGES:
        if lo <= first <= hi:
            return any((word.translate(_simplified()) if lang == "zh" else word) in _common_words(lang) for lang in langs)
    return False


def _strictly_alike(forms: tuple[str, ...], span: list[tuple[str, bool, str, bool, str]],
                    groups: tuple[tuple[int, int], ...], kind: str) -> bool:
    """Beyond ``_sound_alike``, for a common word: every stop voiced alike (not in Chinese syllables or
    Tamil, which do not tell them apart, nor in Hangul with a syllable-final stop), every written vowel letter by
    letter, and no vowel added before the first consonant or, in Indic scripts, after the last."""
    j, w = 0, 0
    for n_words, n_toks in groups:
        name, letters = "".join(forms[w:w + n_words]), "".join(t[0] for t in span[j:j + n_toks])
        mine, theirs = _slots(name, part_y=True), _slots(letters)
        tamil = any("\u0b80" <= ch <= "\u0bff" for ch in span[j][4])
        neutral = kind == "hangul" and any(re.search(r"(?<!n)[kgtdpb]$", t[0]) for t in span[j:j + n_toks])  # 록: a final stop, unreleased
        if kind not in ("han", "thai") and not tamil and not neutral and not _stops_alike(name, letters, kind):
            return False
        if kind == "word" and _sibilants_apart(name, letters):
            return False
        if kind != "word" and bool(mine[0]) != bool(theirs[0]):
            return False
        if kind == "indic" and mine[-1] != "e" and bool(mine[-1]) != bool(theirs[-1]):
            return False
        if kind in ("vowels", *SPELT_VOWELS) and not all(_fine_alike(a, b, kind) for a, b in zip(mine[:-1], theirs[:-1])):
            return False
        j, w = j + n_toks, w + n_words
    return True


def _group_starts(groups: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """(first word of the name, first token of the prompt) of each group of ``_aligned``."""
    out, w, j = [], 0, 0
    for n_words, n_toks in groups:
        out.append((w, j))
        w, j = w + n_words, j + n_toks
    return out


# Cyrillic letters of hushing sounds, which no plain s or z of a name is written with
CYRILLIC_HUSHING = frozenset("шщчжђџћ")


def _hushing_apart(name_word: str, span: list) -> bool:
    """Cyrillic writes sh, shch, ch, zh with letters of their own, never a name's plain s or z:
    зеленщика (greengrocer's) is not Зеленского."""
    return (any(ch in CYRILLIC_HUSHING for t in span for ch in t[4].lower())
            and not re.search(r"sh|ch|zh|x|j|g(?=[eiy])|t[sz]|cz", name_word))


# Latin-script languages whose common words (wordfreq) are not a slip of a name's word: "Elon muss".
LATIN_COMMON_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "tr", "id", "pl", "sv")


def _ordinary_inflected(word: str, ordinary: frozenset[str]) -> bool:
    """An ordinary English word, or one's plural ("bayonets", "boxes")."""
    return word in ordinary or (word.endswith("s") and (word[:-1] in ordinary or word.endswith("es") and word[:-2] in ordinary))


def latin_common_word(word: str) -> bool:
    """A word seen at least once per million in one of ``LATIN_COMMON_LANGUAGES`` (wordfreq)."""
    return any(word in _common_words(lang) for lang in LATIN_COMMON_LANGUAGES)


def _sounds_as_written(words: tuple[str, ...], toks: tuple[str, ...], placement: tuple[int, ...]) -> bool:
    """A name found by sound alone, its words in order, each beginning with the name word's letter
    and keyed by two letters or more, SOUND_NAME_MIN_KEY in all: "eelon musck", "leeonel messee"."""
    keys = [len(phonetic_key(toks[pos])) for pos in placement]
    return (list(placement) == sorted(placement) and min(keys) >= 2 and sum(keys) >= SOUND_NAME_MIN_KEY
            and all(toks[pos][:1] == word[:1] for word, pos in zip(words, placement, strict=True)))


def _short_beside_long(strengths: list[int], toks: tuple[str, ...], placement: tuple[int, ...]) -> bool:
    """A short word of a name by sound ("shee" for Xi) counts beside its other words by sound when they
    are in order and each of the others has a key of SHORT_PARTNER_MIN_KEY letters: "shee jinpeng"."""
    others = [pos for s, pos in zip(strengths, placement, strict=True) if s != WEAK]
    return bool(others) and list(placement) == sorted(placement) and all(
        len(phonetic_key(toks[pos])) >= SHORT_PARTNER_MIN_KEY for pos in others)


def _written_as_names(placement: tuple[int, ...], toks: tuple[str, ...], ordinary: frozenset[str], capitalised) -> bool:
    """Each piece of a split name (a run of its words side by side) reads as a name: it holds a word
    that is no ordinary English word, or one capitalised or presented as a name ("last name swift"), or
    it is the given name opening the name ("jackie ..., last name chan"). "Taylor sweeps the porch while
    a swift circles" and "a swift perched where Taylor feeds the hens" name no one."""
    pieces: list[list[tuple[int, int]]] = []
    for w, pos in sorted(enumerate(placement), key=lambda x: x[1]):
        if pieces and pieces[-1][-1][1] == pos - 1:
            pieces[-1].append((w, pos))
        else:
            pieces.append([(w, pos)])
    common = ordinary_words()
    return all(any(toks[pos] not in common or toks[pos] in capitalised() for _, pos in piece)
               or n == 0 and piece[0][0] == 0 for n, piece in enumerate(pieces))


def _sibilants_apart(name_word: str, written: str) -> bool:
    """Arabic script and Hebrew write a j (ج, ג׳) and an s (س, ס) with different letters, which the
    skeleton's one class for both does not tell apart: نسائية (women's) is not Nyong'o read as نيونجو."""
    mine, theirs = _consonants(name_word), _consonants(written)
    return len(mine) == len(theirs) and any({a, b} == {"j", "s"} for a, b in zip(mine, theirs, strict=True))


def _common_groups(span: list[tuple[str, bool, str, bool, str]], groups: tuple[tuple[int, int], ...]) -> list[bool]:
    """Whether each group of tokens (one word of the name) is written as a common word."""
    out, j = [], 0
    for _, n_toks in groups:
        out.append(common_word("".join(t[4] for t in span[j:j + n_toks])))
        j += n_toks
    return out


def _collapse(keys) -> str:
    return "".join(k for k, _ in itertools.groupby("".join(keys)))


def _aligned(words: tuple[str, ...], keys: list[str], starts: list[bool], kind: str) -> tuple[tuple[int, int], ...] | None:
    """How the prompt tokens' skeletons split into the name's words, as (words, tokens) counts per
    group, or None: each word one or more whole tokens (Chinese and Hangul syllables; an Arabic
    شي جين بينغ for "Xi Jinping"), beginning where a word may begin; a katakana run may hold several
    words (ジャッキーチェン)."""
    most = SKELETON_GROUP[kind]

    @functools.cache
    def split(i: int, j: int) -> tuple[tuple[int, int], ...] | None:
        if i == len(words) or j == len(keys):
            return () if i == len(words) and j == len(keys) else None
        if j and not starts[j] and kind not in SYLLABLES:  # syllables: 시진핑, 巴拉克奥巴马 run the words together
            return None
        for a in range(1, len(words) - i + 1 if kind == "kana" else 2):
            for b in range(1, min(most, len(keys) - j) + 1 if a == 1 else 2):
                if kind in ("han", "hangul") and any(starts[j + 1:j + b]):
                    break  # one word of a name is not written across a space or middle dot: "젤리 한 봉지"
                if _collapse(words[i:i + a]) == _collapse(keys[j:j + b]):
                    rest = split(i + a, j + b)
                    if rest is not None:
                        return ((a, b), *rest)
        return None
    return split(0, 0)


# The characters Chinese spells foreign names with (Xinhua's transliteration tables, with the
# Taiwan and Hong Kong choices and the characters for women's names), in simplified form. They are
# chosen to carry little meaning, so a short form written with any other character is a Chinese
# word, not a foreign name: 葡京 (a casino), 普定 (a county) and 星巴克 sound like Putin and Thunberg.
HAN_TRANSLITERATION = frozenset(
    "阿埃艾爱安昂奥欧厄伊乌尤于约耶亚雅英因恩翁温鄂"
    "巴拜班邦保鲍贝本比宾彬波伯博布宝碧毕彼"
    "帕派潘庞佩彭皮平珀普蒲朴"
    "达戴丹当道德登迪蒂丁东杜多敦顿黛狄"
    "塔泰坦汤唐陶特滕提廷通图托屯吞汀"
    "加盖甘冈高戈格根古瓜圭贡郭葛"
    "卡凯坎康考柯科克肯库夸奎昆孔喀"
    "法范方菲费芬丰佛弗福富夫凡芙斐"
    "瓦韦维文沃旺万威卫薇"
    "撒萨塞赛桑瑟森斯松苏索绍"
    "扎泽赞兹祖佐宗曾茨孜"
    "沙莎尚舍申圣施什史舒夏谢肖萧希西锡席辛欣休许茜朔"
    "查彻楚乔切奇琴丘钱契琪"
    "贾杰吉基金京居詹朱卓久姬琼"
    "哈海汉豪赫黑亨洪胡华怀惠霍韩"
    "拉莱赖兰朗劳勒雷蕾里利莉丽连林琳刘隆卢鲁路伦罗洛吕略露璐"
    "马玛迈麦曼芒毛梅门蒙米敏明莫默姆穆缪"
    "纳娜乃南内尼妮纽诺努宁农拿"
    "尔热日荣茹瑞若让任儿"
    "扬耶尤约娅"
    "伍武温乌"
    "丝斯黛娃翠萝妲龙强逊度咸宏童翰永咏琵罕美奴"
)


HAN_WORD_MAX = 4  # characters in the longest common word the segmentation looks for


def _han_segments(toks: list[tuple[str, bool, str, bool, str] | None]) -> tuple[set[int], dict[int, tuple[int, int]]]:
    """Words in running Chinese text, which puts no space between a name and its neighbours
    (俄罗斯总统普京撑着伞): a forward longest-match segmentation on the common words of Chinese
    (wordfreq's list, traditional characters read as simplified). Returns where words begin (总统 and
    撑着 are words, so 普京 begins one; a character that begins no common word is a word of its own)
    and, for each token in a foreign name, the first and last token of that name: the longest run of
    words written only in the characters foreign names are spelt with (``HAN_TRANSLITERATION``), so
    that 利亚尼 is read as part of 莫迪利亚尼 (Modigliani), not as Rihanna, while 夫人 after 普京 is a word."""
    starts: set[int] = set()
    runs: dict[int, tuple[int, int]] = {}
    i = 0
    while i < len(toks):
        if toks[i] is None or toks[i][2] != "han":
            i += 1
            continue
        j = i + 1  # up to the next word break written in the text: a space, a middle dot (弗拉基米尔·普京)
        while j < len(toks) and toks[j] is not None and toks[j][2] == "han" and not toks[j][1]:
            j += 1
        text = "".join(t[4] for t in toks[i:j]).translate(_simplified())
        run = None
        for k, n in _chinese_words(text):
            starts.add(i + k)
            if all(ch in HAN_TRANSLITERATION for ch in text[k:k + n]):
                run = (run[0] if run else i + k, i + k + n - 1)
                for q in range(run[0], run[1] + 1):
                    runs[q] = run
            else:
                run = None
        i = j
    return starts, runs


def _chinese_words(text: str) -> list[tuple[int, int]]:
    """(start, length) of each word of a run of simplified Chinese: forward longest match on the
    common words of Chinese (wordfreq's list, loaded for the first prompt with Chinese in it)."""
    words, out, k = _common_words("zh"), [], 0
    while k < len(text):
        n = next((n for n in range(min(HAN_WORD_MAX, len(text) - k), 1, -1) if text[k:k + n] in words), 1)
        out.append((k, n))
        k += n
    return out


def _heard_as_words(alias: str, prompt: str) -> bool:
    """A Chinese ``alias`` (simplified) sounded by other characters that stand as words of their own in
    the prompt's Chinese: 成隆在拍电影 (成 and 隆 are no part of a longer word) is 成龙 misspelt, while
    竹林里 (林 is inside 竹林) and 实验室里研究 sound like 林丽 and 李燕 but hold no such name. Not in
    Japanese (the prompt has kana), whose characters are Japanese words (浮世絵)."""
    if any("\u3040" <= ch <= "\u30ff" for ch in prompt):
        return False
    sound = [anyascii(ch).lower() for ch in alias]
    for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", prompt.translate(_simplified())):
        bounds = {k for k, _ in _chinese_words(run)} | {len(run)}
        for k in range(len(run) - len(alias) + 1):
            if k in bounds and k + len(alias) in bounds and [anyascii(ch).lower() for ch in run[k:k + len(alias)]] == sound:
                return True
    return False


def _run_together(span: list[tuple[str, bool, str, bool, str]], groups: tuple[tuple[int, int], ...]) -> bool:
    """A word of the name after the first begins inside a word of the prompt (巴拉克奥巴马, 시진핑)."""
    j = 0
    for k, (_, n_toks) in enumerate(groups):
        if k and not span[j][1]:
            return True
        j += n_toks
    return False


def _letters_script(ch: str) -> str:
    o = ord(ch)
    if o < 0x250:
        return "latin"
    if 0x370 <= o < 0x400:
        return "greek"
    if 0x30A0 <= o <= 0x30FF:
        return "katakana"
    return "cjk" if _is_cjk(ch) else "other"


def foreign_tokens(text: str) -> list[tuple[str, bool, str, bool, str] | None]:
    """The words of the prompt written in a non-Latin script, in Latin letters, for skeleton
    matching: (letters, a word of a name may begin here, kind, written with a capital, as written). Kinds: "han" and "hangul", one
    token a syllable (a name's words begin after a space or a middle dot: 泰勒·斯威夫特, 테일러 스위프트);
    "kana", a katakana run; "vowels", a Cyrillic or Greek word (vowels written; Serbian ј is a y:
    Тејлор); "indic", an Indic word (every vowel spelt, inherent ones read); "word", any other
    (Arabic, Hebrew). None stands for what no name spans: a Latin word, a number, hiragana
    (Japanese writes foreign names in katakana, its own in kanji, which are registered as written)."""
    base = unicodedata.normalize("NFKC", text)
    out: list[tuple[str, bool, str, bool, str] | None] = []
    word: list[str] = []

    def flush() -> None:
        if not word:
            return
        chunk = "".join(word)
        word.clear()
        if not any(ch.isalpha() and _letters_script(ch) != "latin" for ch in chunk):
            # a Latin initial may stand before a surname in another script (K·哈里斯, T.스위프트, E・マスク)
            out.append((chunk.lower(), True, "initial", False, chunk) if len(chunk) == 1 and chunk.isascii() and chunk.isalpha()
                       else None)
            return
        if any("\u05d0" <= ch <= "\u05ea" for ch in chunk):
            out.append((_hebrew(chunk.lower()), True, "word", False, chunk))
            return
        first = True
        for part in re.split(r"([\u30a0-\u30ff]+)", chunk):
            if not part:
                continue
            if "\u30a0" <= part[0] <= "\u30ff":
                out.append((_katakana(part, long_mark_r=False), True, "kana", False, part))
                continue
            run = ""
            particles = {k for m in re.finditer(r"[\uac00-\ud7af]+", part)
                         for k in range(m.start() + _hangul_word_end(m.group(0)), m.end())}
            for k, ch in enumerate(part):
                if _is_cjk(ch):
                    if run:
                        out.append((anyascii(run.lower()), True, "word", False, run))
                        run = ""
                    hangul = "\uac00" <= ch <= "\ud7af"
                    if "\u3040" <= ch <= "\u309f" or ch in HAN_BOUNDARIES or k in particles:
                        out.append(None)  # hiragana, a particle: no name spans it, a word begins after it
                        first = True
                        continue
                    letters = anyascii(ch).lower()
                    if not hangul:  # pinyin q and c are affricates (强森 qiang for John-, 茨 ci), not k
                        letters = re.sub(r"^c(?!h)", "ts", re.sub(r"^q", "ch", letters))
                    out.append((letters, first, "hangul" if hangul else "han", False, ch))
                    first = False
                else:
                    run += ch
            if run and "\u0e00" <= run[0] <= "\u0e7f":
                out.extend((letters, start, "thai", False, word) for word, letters, start in _thai_words(run))
                run = ""
            if run:
                script, capital, written = _letters_script(run[0]), run[0].isupper(), run
                run = run.lower()
                if script == "greek":
                    run = "".join(c for c in unicodedata.normalize("NFD", run) if not unicodedata.combining(c))
                    for a, b in GREEK_DIGRAPHS:
                        run = run.replace(a, b)
                vowels = script == "greek" or "\u0400" <= run[0] <= "\u04ff"
                out.append((_indic(run) if "\u0900" <= run[0] <= "\u0dff" else _arabic_script(run) if "\u0600" <= run[0] <= "\u06ff"
                            else anyascii(run.translate(NASAL_SIGNS).replace("ј", "y")), True,
                            "vowels" if vowels else "indic" if "\u0900" <= run[0] <= "\u0dff" else "word", vowels and capital, written))
                first = False

    for k, ch in enumerate(base):
        cat = unicodedata.category(ch)
        if cat[0] in "LMN" or ch in "'\u05f3\u05f4":
            word.append(ch)
        elif ch == "\u200c" and word and _zwnj_parts(word[-1], base[k + 1:k + 2]):
            flush()  # Persian and Indic scripts part a suffix with a zero-width non-joiner: رنگ‌های, పుతిన్‌తో
        elif cat != "Cf" and ch not in INVISIBLE:
            flush()
    flush()
    return out


@functools.lru_cache(maxsize=1 << 12)
def _thai_words(run: str) -> tuple[tuple[str, str, bool], ...]:
    """A run of Thai text, which puts no space between words, as its words (pythainlp's dictionary
    segmentation; a foreign name it does not know comes out in syllables, ลิ โอ เนล) each in Latin
    letters (the Royal Institute's romanisation, which the Thai spelling of a foreign name follows:
    ปูติน "putin", โรนัลโด้ "ronando"), its aspirated kh, ph, th written as the plain stops
    they stand for in a foreign name. Imported for the first Thai prompt only."""
    from pythainlp.tokenize import word_tokenize
    from pythainlp.transliterate import romanize

    from pythainlp.corpus import thai_words

    out, known = [], thai_words()
    run = run.replace("\u0e4d\u0e32", "\u0e33")  # NFKC splits sara am (น้ำ); the dictionary writes it whole
    for word in word_tokenize(run, engine="newmm", keep_whitespace=False):
        letters = re.sub(r"[^a-z]", "", romanize(word, engine="royin").lower())
        letters = letters.replace("kh", "k").replace("ph", "p").replace("th", "t")
        if letters:  # a word begins at a known word and after one; an unknown one comes in syllables (บี ยอน เซ่)
            out.append((word, letters, not out or word in known or out[-1][0] in known))
    return tuple(out)


THAI_COMMON_COUNT = 5000  # times in the Thai National Corpus (pythainlp): a frequent word, not a name's syllable


@functools.cache
def _thai_frequencies() -> dict[str, int]:
    from pythainlp.corpus import tnc

    return dict(tnc.word_freqs())


def _thai_common(word: str) -> bool:
    """A frequent Thai word (สูง, เล่น); the syllables Thai spells foreign names with are rarer (ริ, ยอน),
    and the names themselves are not in the corpus' list."""
    return _thai_frequencies().get(word, 0) >= THAI_COMMON_COUNT


def _arabic_script(word: str) -> str:
    """An Arabic-script word in Latin letters, خ as k (``ARABIC_KH``)."""
    return anyascii(word.translate(ARABIC_KH)).lower()


def _zwnj_parts(before: str, after: str) -> bool:
    """A zero-width non-joiner between two letters of an Arabic-script or Indic word is where the
    writer parts a suffix or a prefix (elsewhere it is an invisible character, removed)."""
    return all(ch and ("\u0600" <= ch <= "\u06ff" or "\u0900" <= ch <= "\u0dff") for ch in (before, after))


def _hangul_word_end(word: str) -> int:
    """Where the name part of one Hangul word ends: before the particles and titles written onto
    it (``HANGUL_PARTICLES``, ``HANGUL_TITLES``), at least one syllable kept: "툰베리는" → 3,
    "메르켈총리와" → 3, "로이" → 2 (이 after a vowel is no particle)."""
    end = len(word)
    for _ in range(3):
        for suffix in HANGUL_SUFFIXES:
            if end - len(suffix) < 1 or word[end - len(suffix):end] != suffix:
                continue
            before = word[end - len(suffix) - 1]
            final = (ord(before) - 0xAC00) % 28 != 0 if "\uac00" <= before <= "\ud7af" else None
            after_consonant = HANGUL_PARTICLES.get(suffix)
            if after_consonant is None or final is after_consonant:
                end -= len(suffix)
                break
        else:
            break
    return end


def _indic(word: str) -> str:
    """An Indic word in Latin letters with its inherent vowels (anyascii leaves them out: पतंग →
    "ptmg"): an a after a consonant that has no vowel sign or virama, except at the end. Tamil writes
    f and z with the aytham before p and j (ஸ்விஃப்ட்): read as Devanagari's फ़ and ज़."""
    word = word.replace("ஃப", "\u095e").replace("ஃஜ", "\u095b")
    out = []
    for k, ch in enumerate(word):
        out.append(anyascii(ch.translate(NASAL_SIGNS)))
        nxt = word[k + 1:k + 2]
        if (unicodedata.category(ch) == "Lo" and (0x15 <= ord(ch) % 0x80 <= 0x39 or 0x58 <= ord(ch) % 0x80 <= 0x5F)
                and nxt and (unicodedata.category(nxt) == "Lo" or ord(nxt) % 0x80 in (0x01, 0x02, 0x03))):
            out.append("a")
    return re.sub(r"c(?!h)", "ch", "".join(out))  # anyascii's c is च, ச, చ: ch (चैन is Chan)


def _ascii_fold(text: str) -> str:
    """Diacritics dropped; Hangul syllables kept whole (NFKD would split them into letters)."""
    return "".join(ch if _is_cjk(ch) else "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
                   for ch in text)


def _join_spaced(text: str) -> str:
    return SPACED.sub(lambda m: re.sub(r"[\s.\-_*~·•]+", "", m.group(0)), text)


def _split(text: str) -> tuple[str, ...]:
    return tuple(re.sub(r"[^a-z0-9]+", " ", text).split())


def _squeeze(text: str) -> tuple[str, ...]:
    """Words as the spaces delimit them, with everything but letters inside a word deleted."""
    return tuple(w for w in (re.sub(r"[^a-z]+", "", chunk) for chunk in text.split()) if w)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # Invisibles go before NFKD so combining marks stay with the letter they decorate; symbols and
    # emoji become a separator (anyascii would spell "❤" as ":heart:").
    return "".join("" if ch in INVISIBLE or unicodedata.category(ch) == "Cf"
                   else "*" if unicodedata.category(ch)[0] == "S" and ch not in LEET_SYMBOLS else ch
                   for ch in text).casefold()


def _capitalised(text: str) -> frozenset[str]:
    """The words written with a capital first letter, as a name is ("The Rock", not "the rock"),
    in the readings' alphabet."""
    text = "".join("" if ch in INVISIBLE or unicodedata.category(ch) == "Cf" else ch
                   for ch in unicodedata.normalize("NFKC", text))
    return frozenset(w for chunk in text.split() if next((c for c in chunk if c.isalpha()), "").isupper()
                     for r in readings(chunk) for w in r)


def readings(text: str) -> list[tuple[str, ...]]:
    """The prompt's normalised readings, each a tuple of lowercase ASCII words."""
    base = _clean(text)
    forms = {_transliterate(_ascii_fold(_unconfused(base).translate(HOMOGLYPHS))), _transliterate(_ascii_fold(base))}
    if "ł" in text or "Ł" in text:  # Polish ł is a w ("Tejlor Słift"), which folding would make an l
        forms.add(_transliterate(_ascii_fold(base.replace("ł", "w"))))
    if LEET_DRAWN_RE.search(text):
        drawn = _clean(LEET_DRAWN_RE.sub(lambda m: LEET_DRAWN[m.group(0)], text))
        forms |= {_transliterate(_ascii_fold(_unconfused(drawn).translate(HOMOGLYPHS))), _transliterate(_ascii_fold(drawn))}
    if not text.isascii() and any(chr(o) in text for o in CAPITAL_HOMOGLYPHS):
        forms.add(_transliterate(_ascii_fold(_clean(unicodedata.normalize("NFKC", text).translate(CAPITAL_HOMOGLYPHS))
                                             .translate(HOMOGLYPHS))))
    out: list[tuple[str, ...]] = []
    for folded in forms:
        joined = _join_spaced(folded.lower())
        for form in (joined, joined.translate(LEET), *((joined.translate(LEET_L).translate(LEET),) if "1" in joined else ())):
            for words in (_split(form), _squeeze(form)):
                if words and words not in out:
                    out.append(words)
    return out


def variants(text: str) -> list[str]:
    """The readings as strings (for logging and tests)."""
    return [" ".join(r) for r in readings(text)]


def normalize_name(name: str) -> str:
    """A registered name in the readings' alphabet (no leetspeak decoding: names are taken as
    written); apostrophes and hyphens inside a word are dropped ("Nyong'o", "Heung-min")."""
    base = _clean(name)
    base = re.sub(r"(?<=\w)['’\-‐](?=\w)", "", base)
    return " ".join(_split(_transliterate(_ascii_fold(base)).lower()))


def _core(words: list[str]) -> list[str]:
    return [w for w in words if w not in PARTICLES]


PHONETIC_PRE = [("dzh", "j"), ("tsz", "j"), ("dz", "z"), ("zh", "j"), ("kh", "h"), ("ph", "f"), ("ck", "k"),
                ("tz", "s"), ("ts", "s"), ("z", "s"), ("y", "i"), ("ee", "i"), ("oo", "u"), ("ou", "u")]
# L = R: Japanese and Korean spellings of foreign names ("teira" for Taylor).
PHONETIC_POST = str.maketrans({"0": "T", "X": "S", "V": "F", "W": None, "H": None, "Y": None, "L": "R"})


def phonetic_key(word: str) -> str:
    """Metaphone (jellyfish) with the differences between transliterations folded away: "teylor"
    = "taylor", "svift" = "swift", "dzhonson" = "johnson", "makron" = "macron", Greek "mp" = b."""
    w = re.sub(r"(?:ij|yj|iy|yy|ii)$", "i", re.sub(r"(^|[aeiou])mp(?=[aeiou])", r"\1b", word))
    w = "v" + w[1:] if w[:1] == "w" else w  # Wladimir, Wolodymyr: the German and Polish spellings
    for a, b in PHONETIC_PRE:
        w = w.replace(a, b)
    key = jellyfish.metaphone(w).translate(PHONETIC_POST)
    if word[:1] in "aeiouy":
        key = "A" + key.lstrip("AEIOU")
    return "".join(k for k, _ in itertools.groupby(key))


@functools.lru_cache(maxsize=1 << 16)  # pure, and called for every candidate span
def _first_vowel(word: str) -> str:
    """The class of a word's first vowel: front/open (a, e, i, y) or back (o, u, Korean's eu and eo,
    and a w after a consonant: "dwayne" sounds as "duane", "eun" as "un"); a y before a vowel is a
    consonant (Cyrillic ю, я: "lyudvig" has the u of "ludwig")."""
    m = re.search(r"e[uo]|y(?![aeiou])|[aeiou]|(?<=[^aeiouy])w", word)
    return "" if not m else "back" if m.group(0)[-1] in "ouw" else "front"


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


def _osa1(a: str, b: str) -> bool:
    """At most one insertion, deletion, substitution or transposition of neighbours."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i:i + 2] == b[i:i + 2][::-1])
    return a[i + 1:] == b[i:] if la > lb else a[i:] == b[i + 1:]


def _crowding(index: dict[str, list]) -> dict[int, int]:
    """Skeleton length → how much more evidence a match of that length needs: one unit per factor
    of six (about one consonant class) by which the share of all possible skeletons of that length
    that are registered exceeds SKELETON_CROWDED. 25 names register under 1 % of the 4-class
    skeletons; 10 000 names register 84 % of them, so that any 4-class run of foreign words matches
    some name."""
    by_length: dict[int, int] = defaultdict(int)
    for key in index:
        by_length[len(key)] += 1
    possible = {n: 7 * 6 ** (n - 1) for n in by_length}  # seven classes, no class twice in a row
    return {n: math.ceil(math.log(c / possible[n] / SKELETON_CROWDED, 6)) for n, c in by_length.items()
            if c / possible[n] > SKELETON_CROWDED}


# The commonest function words of the scripts skeletons are looked for in ("в", "на", "και", "της",
# "في", "של", "में", "की"): a word of a name matched by one of them is no evidence of the name.
FUNCTION_WORDS = (
    "и в во на с со по к у о об от до из за для не что как это а но или і та з під е се"
    " και το τα της του των τη την τις στο στη στην στα στις ο η οι με σε για από ένα μια ένας θα να"
    " في من على إلى الى عن مع و هذا هذه به با از در که را این کی کا کے میں پر اور ہے"
    " של על עם את אל גם כי לא זה"
    " में की का के को से पर और है हैं एक यह वह ने भी এবং ও এর কি না"
)


@functools.cache
def _function_words() -> frozenset[tuple[str, str]]:
    """(letters, kind) of each: Russian "за" is not katakana ザ (The Rock's article)."""
    return frozenset((t[0], t[2]) for t in foreign_tokens(FUNCTION_WORDS) if t)


def _skeleton_evidence(words: tuple[str, ...], vowels: tuple[str, ...], reordered: bool,
                       span: list[tuple[str, bool, str, bool, str]], groups: tuple[tuple[int, int], ...], kind: str,
                       ends_word: bool, forms: tuple[str, ...] = ()) -> int:
    """What besides its length makes a skeleton match unlikely to be chance, in units of about one
    consonant class, or -1 for none: the classes of the name's words of two classes or more (a word
    of one class, "Mi", "Ka", matches any short word: "bit al him", "putli ka khel"); in a script
    with capitals, every word capitalised (2; required: a name is, "στα βουνά", "Кинг-конг" are
    not); the first written vowel of each group of tokens alike that of the name's word it begins
    (Arabic and Hebrew leave short vowels out: a word without one does not disagree); the name's
    words in order, each one whole word of the prompt (1), less one for each further token a word
    of the name takes ("yfo barb" as one word). A word of the name matched by function words alone
    ("в", "में") counts nothing, one matched by a common word of the language that is not strictly
    alike it (``_strictly_alike``: the names of famous people are common words too) half. ``ends_word``: nothing of this script's word
    follows the span (a Chinese or Hangul name ends where a word does)."""
    if kind == "vowels" and not all(t[3] for t in span):
        return -1
    score = sum(len(w) for w in words if len(w) >= 2) + 2 * (kind == "vowels")
    j, w_i, seen, alike, whole = 0, 0, [], True, not reordered
    for (n_words, n_toks), common in zip(groups, _common_groups(span, groups), strict=True):
        # the first vowel of each group of tokens, and of its first word
        group = sum(len(w) for w in words[w_i:w_i + n_words] if len(w) >= 2)
        if all((t[0], t[2]) in _function_words() for t in span[j:j + n_toks]):
            score -= group
        elif common and forms and not _strictly_alike(forms[w_i:w_i + n_words], span[j:j + n_toks], ((n_words, n_toks),), kind):
            score -= group // 2
        mine = _first_vowel(span[j][0])
        alike = alike and mine in (vowels[w_i], "" if kind in ("word", "indic") else vowels[w_i])  # short vowels unwritten
        seen.append(mine)
        if kind in SYLLABLES:  # syllables: a group is one whole word of the prompt
            whole = whole and not any(t[1] for t in span[j + 1:j + n_toks])
        else:
            whole = whole and n_toks == 1
            score -= n_toks - 1
        j, w_i = j + n_toks, w_i + n_words
    return score + (alike and any(seen)) + (whole and (ends_word or kind not in SYLLABLES))


# Letters written onto the front of an Arabic-script or Hebrew word (and, to, by, like, the, that):
# لأوباما, وماكرون, بالرياض; ולמרקל, שפוטין, הנשיא. Up to two, the rest at least three letters long.
ARABIC_PROCLITICS = frozenset("وفلبك")
# Arabic-script kh is a velar no foreign name's h is written with (پختن, cooking, is not Putin): a k.
ARABIC_KH = str.maketrans({"خ": "ک"})
HEBREW_PROCLITICS = frozenset("והלבמשכ")
# Case endings and postpositions Indic scripts write onto a name (Bengali -র/-এর/-কে, Marathi -ला/-चे/-ंचे,
# Tamil -இன்/-ஐ/-க்கு, Telugu -తో/-కి/-ను, Gujarati -નો/-ની/-ને, Kannada -ನ, Malayalam -ന്റെ), longest first.
INDIC_SUFFIXES = tuple(sorted((
    "ের", "র", "কে", "তে", "য়ের", "ও",
    "ला", "ले", "ने", "चे", "ची", "चा", "ांचे", "ंचे", "ांचा", "ंचा", "ांची", "ंची", "ांनी", "ंनी", "को", "का", "की", "के",
    "ின்", "இன்", "ை", "க்கு", "உடன்", "ுடன்", "ிடம்", "ின", "வின்", "வை", "வுக்கு", "வுடன்",
    "తో", "కి", "కు", "ను", "ని", "లో", "ది",
    "નો", "ની", "નું", "ને", "ના",
    "ನ", "ನನ್ನು", "ರ", "ರನ್ನು", "ಗೆ",
    "ന്റെ", "ിനെ", "ിന്റെ",
    "ਦਾ", "ਦੀ", "ਦੇ", "ਨੂੰ",
    "ભાઈ", "भाई", "জী", "जी",  # honorifics written onto a name: નરેન્દ્રભાઈ
), key=len, reverse=True))


# Arabic letters of sounds no foreign name's letters are written with (pharyngeals, emphatics, q):
# a word holding one is an Arabic word unless it also sounds like the name (محمد, ريحانا do).
ARABIC_NATIVE_SOUNDS = frozenset("عحصضطظق")


def _unforeign_letters(span: list, crowded: int) -> bool:
    """The span is written with letters that make a skeleton match doubtful without the sound: an
    Arabic word with ``ARABIC_NATIVE_SOUNDS``, or, among many registered names (``crowded``), a word of a
    script that writes its vowels (Ethiopic, Armenian, Khmer...) which the skeleton does not compare."""
    written = "".join(t[4] for t in span)
    if any(ch in ARABIC_NATIVE_SOUNDS for ch in written):
        return True
    return bool(crowded) and not any("\u0590" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" for ch in written)


def _function_word_group(span: list, groups: tuple[tuple[int, int], ...]) -> bool:
    """Some word of the name is matched by function words of the prompt's language alone ("в", "در")."""
    j = 0
    for _, n in groups:
        if all((t[0], t[2]) in _function_words() for t in span[j:j + n]):
            return True
        j += n
    return False


def _token_keys(tok: tuple[str, bool, str, bool]) -> list[tuple[str, str]]:
    """(skeleton, letters) readings of a foreign token: itself, a Cyrillic or Greek word without a
    case ending that adds a consonant (Путиным → "putin", Зеленського → "zelensk"), an Arabic or
    Hebrew word without the letters written onto its front (لميركل, ולמרקל), an Indic word without
    the case ending or postposition written onto its end (ওবামার, పుతిన్‌తో)."""
    out = [(skeleton(tok[0]), tok[0])]
    written = tok[4]
    if tok[2] == "vowels":
        letters = re.sub(r"[^a-z]", "", tok[0])
        m = CASE_ENDING.search(letters)
        if m and m.start() >= 2 and skeleton(letters[:m.start()]) != out[0][0]:
            out.append((skeleton(letters[:m.start()]), letters[:m.start()]))
    elif tok[2] == "word" and written[:1] and ("\u0600" <= written[0] <= "\u06ff" or "\u05d0" <= written[0] <= "\u05ea"):
        hebrew = written[0] >= "\u05d0" and written[0] <= "\u05ea"
        clitics = HEBREW_PROCLITICS if hebrew else ARABIC_PROCLITICS
        for n in (1, 2, 3):  # וכשפוטין: and + when + Putin
            if len(written) - n < 3 or written[n - 1] not in clitics or common_word(written) and not common_word(written[n:]):
                break  # a common word whose rest is none is itself: Urdu بریانی (biryani) is not ب + Rihanna
            rest = written[n:]
            letters = _hebrew(rest.lower()) if hebrew else _arabic_script(rest)
            out.append((skeleton(letters), letters))
        if not hebrew:  # Persian and Urdu write v with و (بتهوون): also read as v
            for letters in [t for _, t in out]:
                if "w" in letters[1:]:
                    out.append((skeleton(letters[0] + letters[1:].replace("w", "v")), letters[0] + letters[1:].replace("w", "v")))
    elif tok[2] == "indic":
        for suffix in INDIC_SUFFIXES:  # every one that fits: ओबामांचे is ओबामा + ंचे, not ओबाम + ांचे
            if written.endswith(suffix) and len(written) - len(suffix) >= 2:
                letters = _indic(written[:-len(suffix)])
                if (skeleton(letters), letters) not in out:
                    out.append((skeleton(letters), letters))
    return out


# -- the index ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NameMatch:
    """Which pattern matched (for tests and the operator's log; never shown to the requester)."""

    name: str
    matched_text: str
    how: str  # words | joined | single | initial-surname


@dataclass(frozen=True)
class _Pattern:
    person_id: str
    name: str
    words: tuple[str, ...]  # core words (particles left out)
    phrase: tuple[str, ...]  # a one-word name with particles ("The Rock", "An El"): all its words, as written
    native: bool  # written in a non-Latin script: must appear as written, in order
    exact_only: bool = False  # a surname alone: "a merkle tree" is not "Merkel"
    cased: bool = False  # a phrase of particles and an ordinary word ("The Rock"): its word capitalised


# How other Latin orthographies spell sounds English spells otherwise, read back for a respelt name
# ("Tejlor", "Dżonson", "kim tschong un", "Olaf Szolc", "Betowen", "yonson"): each rule applied or
# not, in this order, to each prompt word (``_respellings``).
ORTHOGRAPHIES = [(re.compile(a), b) for a, b in (
    (r"j", "y"), (r"^y(?=[aeiou])", "j"),                                 # German, Polish, Nordic j; Spanish y
    (r"tsch", "ch"), (r"dsch", "j"), (r"sch", "sh"),                      # German
    (r"sz", "sh"), (r"cz", "ch"), (r"dz", "j"),                           # Polish (ż and ł are read before folding)
    (r"dj", "j"), (r"tch", "ch"), (r"^ou(?=[aeiy])", "w"), (r"ou", "u"), (r"^ch", "sh"),  # French
    (r"w", "v"), (r"c$", "ts"),                                           # German, Polish w; Polish, Czech c
    (r"(?<=[^aeiou])y$", "ie"))]                                           # English -y and -ie alike (Jacky)
RESPELLINGS_MAX = 8  # spellings kept per word
RESPELT_SCRIPTS = ("", "latin")  # the name's readings a respelt name may take (SCRIPT_READINGS["latin"])


@functools.lru_cache(maxsize=1 << 14)
def _respellings(word: str) -> tuple[tuple[str, str], ...]:
    """(spelling, skeleton) of a prompt word as written and as ``ORTHOGRAPHIES`` read it, as written first."""
    forms = [word]
    for pattern, repl in ORTHOGRAPHIES:
        forms += [f2 for f2 in (pattern.sub(repl, f) for f in forms) if f2 not in forms]
        if len(forms) >= RESPELLINGS_MAX:
            break
    return tuple((f, skeleton(f)) for f in forms[:RESPELLINGS_MAX])


ACRONYM = re.compile(r"[A-Z]{2,5}")
_WORD = re.compile(r"[^\W\d_][\w'’]*")  # hyphens part words: Mercedes-Benz Stadium (MBS)


def _acronym_spelt_out(acronym: str, prompt: str) -> bool:
    """The prompt says what the capitals of a registered acronym stand for here, beside it in
    brackets either way round: "Marina Bay Sands (MBS)", "MBS (Marina Bay Sands)". The person's
    own name spelt out ("Mohammed bin Salman (MBS)") is found as that name anyway."""
    letters = acronym.casefold()

    def spells(words: list[str]) -> bool:
        initials = [w[0].casefold() for w in words]
        content = [w[0].casefold() for w in words if w.casefold() not in PARTICLES | {"and", "&"}]
        return "".join(initials) == letters or "".join(content) == letters

    text = unicodedata.normalize("NFKC", prompt)
    for m in re.finditer(rf"(?<!\w){re.escape(acronym)}(?!\w)", text):
        before, after = text[:m.start()].rstrip(), text[m.end():].lstrip()
        if before.endswith("(") and after.startswith(")"):
            words = _WORD.findall(before[:-1])
            if any(len(words) >= k and spells(words[-k:]) for k in range(len(letters), len(letters) + 3)):
                return True
        if after.startswith("(") and ")" in after and spells(_WORD.findall(after[1:after.index(")")])):
            return True
    return False


NAME_DOTS = "・·‧･•"  # part a foreign name's words in Japanese (and Chinese): ロナルド・マクドナルド


def _in_longer_foreign_name(written: list[str], prompt: str, own: frozenset[str]) -> bool:
    """Every place a Japanese prompt writes ``written`` (a short form in katakana) a name dot and
    another katakana word follow, not one of the person's own names by its skeleton (``own``): it
    is the given name of a longer foreign name, which Japanese writes given name first, as ロナルド・
    マクドナルド is Ronald McDonald, not Ronaldo (ビヨンセ・ノウルズ is still Beyoncé). After a dot
    it may still be the person's own surname (ウラジーミル・プーチン: katakana spells given names too
    loosely to tell another's apart), so that side is not looked at."""
    text = unicodedata.normalize("NFKC", prompt)
    dots = re.escape(NAME_DOTS)
    theirs = {skeleton(w) for w in own}
    seen = False
    for m in re.finditer(rf"[\s{dots}]*".join(re.escape(w) for w in written), text):
        seen = True
        nxt = re.match(rf"[{dots}]({KATAKANA_RUN.pattern})", text[m.end():])
        key = skeleton(_katakana(nxt.group(1), long_mark_r=False)) if nxt else ""
        if not key or any(key == k or _osa1(key, k) for k in theirs):
            return False
    return seen


def _named_otherwise(toks: tuple[str, ...], start: int, end: int, cased: bool, prompt: str,
                     capitals: frozenset[str], own: frozenset[str]) -> bool:
    """The one-word name or short form at ``toks[start:end]`` names a place or thing here: "the
    town of Obama", "the Rock of Gibraltar" (a nickname of ordinary words, ``cased``, then "of" and
    a capitalised word, not an acronym: "The Rock of WWE" is the wrestler), "Alcatraz, known as
    The Rock" (another proper noun, perhaps with a place noun, right before an appositive cue).
    ``own``: the person's own name words, which never make the referent someone else."""
    if start >= 2 and toks[start - 1] == "of" and toks[start - 2] in PLACE_NOUNS:
        return True
    if (cased and end + 1 < len(toks) and toks[end] == "of" and toks[end + 1] in capitals
            and toks[end + 1] not in own and re.search(rf"\b{re.escape(toks[end + 1].capitalize())}\b", prompt)):
        return True
    for cue in APPOSITIVE_CUES:
        at = start - len(cue)
        if at >= 1 and toks[at:start] == cue:
            before = toks[at - 1]
            if before in PLACE_NOUNS and at >= 2:
                before = toks[at - 2]
            if before in capitals and before not in own and before not in PLACE_NOUNS:
                return True
    return False


class _PromptMemo:
    """What one prompt's readings share, computed once and only when a reading needs it: the
    prompt's capitalised words, and whether a Chinese alias lies only inside set phrases."""

    def __init__(self, prompt: str, capitals: frozenset[str] | None):
        self.prompt, self._capitals, self._phrases, self._written, self._acronyms = prompt, capitals, {}, {}, {}

    def capitals(self) -> frozenset[str]:
        if self._capitals is None:
            self._capitals = _capitalised(self.prompt)
        return self._capitals

    def writes(self, alias: str) -> bool:
        """The prompt holds a Chinese ``alias`` as written (both simplified), or sounds it with
        characters that are words of their own (``_heard_as_words``)."""
        if alias not in self._written:
            self._written[alias] = alias in self.prompt.translate(_simplified()) or _heard_as_words(alias, self.prompt)
        return self._written[alias]

    def acronym_spelt_out(self, acronym: str) -> bool:
        if acronym not in self._acronyms:
            self._acronyms[acronym] = _acronym_spelt_out(acronym, self.prompt)
        return self._acronyms[acronym]

    def in_phrases_only(self, alias: str) -> bool:
        if alias not in self._phrases:
            self._phrases[alias] = _han_alias_in_phrases_only(alias, self.prompt)
        return self._phrases[alias]


class NameIndex:
    """Every registered person's names, aliases and short forms, keyed for look-up by word.

    ``people``: person id → (names, forms or None for the defaults)."""

    def __init__(self, people: dict[str, tuple[tuple[str, ...], tuple[ShortForm, ...] | None]]):
        self.patterns: list[_Pattern] = []
        self._exact: dict[str, list[tuple[int, int]]] = defaultdict(list)  # word → (pattern, word index)
        self._phonetic: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._fuzzy: dict[str, list[tuple[int, int]]] = defaultdict(list)  # one-deletion neighbour → ...
        self._joined: dict[str, list[int]] = defaultdict(list)
        self._joined_fuzzy: dict[str, list[int]] = defaultdict(list)
        self._single: dict[str, list[int]] = defaultdict(list)
        self._single_fuzzy: dict[str, list[int]] = defaultdict(list)
        self._single_phonetic: dict[str, list[int]] = defaultdict(list)
        self._initial: dict[str, list[tuple[int, str]]] = defaultdict(list)  # surname → (pattern, initial)
        self._initial_fuzzy: dict[str, list[tuple[int, str]]] = defaultdict(list)
        # a name's consonant skeleton → (pattern, its words' skeletons)
        self._skeleton: dict[str, list[tuple[int, tuple[str, ...], str]]] = defaultdict(list)
        # the same for the short forms a person chose, found when they also sound alike; and for
        # "Initial. Surname" (the surname's skeleton → ..., the initial)
        self._short_skeleton: dict[str, list[tuple]] = defaultdict(list)
        self._initial_skeleton: dict[str, list[tuple]] = defaultdict(list)
        self._han_aliases: dict[int, str] = {}  # pattern of a name written in Chinese characters → it, simplified
        for person_id, (names, forms) in people.items():
            display = names[0] if names else ""
            chosen = default_forms(display) if forms is None else forms
            for n, name in enumerate((*names, *(f.text for f in chosen if f.kind == "nickname"))):
                self._add_name(person_id, name, short=n > 0)
            words = _core(normalize_name(display).split())
            latin = not any(ch.isalpha() and ord(ch) > 0x24F for ch in display)
            for form in chosen:
                if form.kind == "surname" and words:
                    self._single[words[-1]].append(self._pattern(person_id, display, (words[-1],), "", False, True))
                    if latin:
                        self._add_skeletons(person_id, display, (words[-1],), (words[-1],), self._short_skeleton)
                elif form.kind == "initial-surname" and len(words) >= 2:
                    if latin:
                        self._add_skeletons(person_id, display, (words[-1],), (words[-1],), self._initial_skeleton,
                                            words[0][0])
                    i = self._pattern(person_id, display, (words[-1],), "", False)
                    self._initial[words[-1]].append((i, words[0][0]))
                    if len(words[-1]) >= FUZZY_MIN_LEN:
                        for d in _deletions(words[-1]):
                            self._initial_fuzzy[d].append((i, words[0][0]))
        self._own_words: dict[str, frozenset[str]] = {}  # person id → the words of all their names
        for p in self.patterns:
            self._own_words[p.person_id] = self._own_words.get(p.person_id, frozenset()) | set(p.words) | set(p.phrase)
        self._crowd = _crowding(self._skeleton)
        self._crowd_short = _crowding(self._short_skeleton)
        self._crowd_initial = _crowding(self._initial_skeleton)
        # every beginning of a registered skeleton: a run of foreign words whose skeleton begins no
        # registered one is not extended (a 4 000-character Arabic or Thai prompt stays well under a second)
        self._skeleton_prefixes = frozenset(key[:n] for index in (self._skeleton, self._short_skeleton, self._initial_skeleton)
                                            for key in index for n in range(len(key) + 1))

    def __len__(self) -> int:
        return len(self.patterns)

    def _pattern(self, person_id, name, words, phrase, native, exact_only=False) -> int:
        cased = bool(phrase) and words[0] in ordinary_words()
        self.patterns.append(_Pattern(person_id, name, tuple(words), tuple(phrase), native, exact_only, cased))
        self._cased = getattr(self, "_cased", False) or cased
        return len(self.patterns) - 1

    def _add_single(self, i: int, word: str) -> None:
        self._single[word].append(i)
        if len(word) >= FUZZY_MIN_LEN:
            for d in _deletions(word):
                self._single_fuzzy[d].append(i)

    def _add_name(self, person_id: str, name: str, short: bool = False) -> None:
        all_words = normalize_name(name).split()
        if not all_words:
            return
        native = any(ch.isalpha() and ord(ch) > 0x24F for ch in name)
        if not native and re.search(r"\w-\w", name):  # "Heung-min" is also two words: "son hung min"
            self._add_name(person_id, re.sub(r"(?<=\w)-(?=\w)", " ", name), short)
        words = _core(all_words) or all_words
        han = name.strip() if all("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in name.strip()) else ""
        if not native:
            self._add_skeletons(person_id, name, tuple(words), tuple(all_words))
            # an alias or nickname (not "MBS", "CR7", nor "T-Swift" joined: its "ts" is no affricate): also shorter
            if short and not re.search(r"\d|\b[A-Z]{2,4}\b|^\w-\w", name):
                self._add_skeletons(person_id, name, tuple(words), tuple(all_words), self._short_skeleton)
        if len(words) == 1:
            phrase = tuple(all_words) if len(all_words) > 1 else ()
            i = self._pattern(person_id, name, words, phrase, native)
            if han:
                self._han_aliases[i] = han.translate(_simplified())
            self._add_single(i, words[0])
            if not native and not phrase and len(words[0]) >= FUZZY_MIN_LEN:
                self._single_phonetic[phonetic_key(words[0])].append(i)
            if phrase and len("".join(phrase)) >= JOINED_MIN_LEN:
                self._joined["".join(phrase)].append(i)  # "#TheRock"
            return
        i = self._pattern(person_id, name, words, "", native)
        if han:
            self._han_aliases[i] = han.translate(_simplified())
        for w_i, word in enumerate(words):
            self._exact[word].append((i, w_i))
            key = phonetic_key(word)
            if not native and (len(key) >= 2 or key and len(word) <= 2):  # "xi" by its one letter: "shee", "hsi"
                self._phonetic[key].append((i, w_i))
                if len(word) >= FUZZY_MIN_LEN:
                    for d in _deletions(word):
                        self._fuzzy[d].append((i, w_i))
        if native:
            return
        for solid in {"".join(words), "".join(all_words)}:
            if len(solid) >= JOINED_MIN_LEN:
                self._joined[solid].append(i)
            if len(solid) >= JOINED_FUZZY_MIN_LEN:
                for d in _deletions(solid):
                    self._joined_fuzzy[d].append(i)

    def _add_skeletons(self, person_id: str, name: str, words: tuple[str, ...], all_words: tuple[str, ...],
                       into: dict | None = None, initial: str = "") -> None:
        """The name's skeletons, its words in order (with and without particles) and, for two
        words, reversed: Japanese, Korean and Chinese put the family name first (아베 신조).
        ``into`` a short form's index: skeletons from two classes, kept with the readings they come
        from (the match must sound alike) and the initial that must come before ("Т. Свифт")."""
        short = into is not None
        least = SKELETON_MIN_SHORT if short else SKELETON_MIN_ONE_WORD if len(words) == 1 else SKELETON_MIN
        if short and len(words) == 1 and len(all_words) > 1:
            orders = {all_words}  # an alias with its article keeps it in every script: "더 록", not "рок"
        else:
            orders = {words, all_words} if short else {words, all_words, words[::-1] if len(words) == 2 else words}
        plain = {(_collapse(seq), seq, vowels, order not in (words, all_words), forms)
                 for order in orders for seq, vowels, forms in _name_skeletons(order)}
        keys = {(*k, "") for k in plain} | {
            (_collapse(seq), seq, vowels, order not in (words, all_words), forms, script)
            for script in SCRIPT_READINGS for order in orders for seq, vowels, forms in _name_skeletons(order, script)
            if (_collapse(seq), seq, vowels, order not in (words, all_words), forms) not in plain}
        keys = {k for k in keys if len(k[0]) >= least}
        if keys:
            i = self._pattern(person_id, name, words, "", False)
            for key, seq, vowels, reordered, forms, script in keys:
                (self._skeleton if into is None else into)[key].append((i, seq, vowels, reordered, forms, initial, script, short))

    # -- search ---------------------------------------------------------------------------------
    def find(self, prompt: str) -> dict[str, NameMatch]:
        """person id → first match over every reading of the prompt."""
        found: dict[str, NameMatch] = {}
        capitalised = _capitalised(prompt) if getattr(self, "_cased", False) else frozenset()
        syllables = frozenset(anyascii(ch).lower() for ch in prompt if _is_cjk(ch) and not "\u30a0" <= ch <= "\u30ff")
        memo = _PromptMemo(prompt, capitalised if getattr(self, "_cased", False) else None)
        foreign = functools.cache(lambda: _foreign_words(prompt))  # only once a respelt name is in sight
        for words in readings(prompt):
            self._find_in(words, found, capitalised, syllables, prompt, memo)
            self._find_respelt(words, found, foreign)
        if not prompt.isascii():
            dotted = frozenset(anyascii(m).lower() for m in re.findall(r"(?<!\w)(\w)[.·・]", unicodedata.normalize("NFKC", prompt)))
            self._find_skeletons(foreign_tokens(prompt), found, dotted, any("\u3040" <= ch <= "\u30ff" for ch in prompt), prompt)
        return found

    def _find_respelt(self, toks: tuple[str, ...], found: dict[str, NameMatch], foreign=frozenset) -> None:
        """A Latin name respelt in Latin letters as another language spells its sounds ("lootvig van
        beetoven", "Jacky Tschän", "Loodvig van Baytoven"): its words in order and side by side, each
        with the consonant skeleton of the name's word (as a Cyrillic spelling is found) and its first
        vowel, each the name's word as spelt or no common word of a Latin-script language (particles
        aside), RESPELT_MIN consonant classes in all and, among many registered names, as many more as
        a foreign script's match needs (``_crowding``), each word of the name as written counting as one
        more. Each prompt word is also read as other Latin orthographies spell (``_respellings``: "Tejlor",
        "kim tschong un"). Words of other scripts (``foreign()``) are left to ``_find_skeletons``, which
        knows how each script writes."""
        alts = [_respellings(t) for t in toks]
        ordinary = ordinary_words()

        def vetoed(t: str, f: str, exact: int) -> bool:
            """A common word is no respelt name's word, unless one of another language read back as it
            ("Ludwik", "Dzong"; one under four letters beside a word as written: "Gim Jong Un"); English
            words always are ("in" for "un", "Jonathan" for "Jonathon")."""
            if t == f or t in JOINING:
                return False
            return t in ordinary or latin_common_word(t) and not (
                (len(t) >= 4 or exact) and any(_osa1(r, f) for r, _ in _respellings(t)))

        for start in range(len(toks)):
            # (skeleton so far, the words as read, their skeletons)
            paths: dict[tuple[str, tuple[str, ...], tuple[str, ...]], None] = {("", (), ()): None}
            for end in range(start, min(len(toks), start + RESPELT_SPAN)):
                nxt = {(_collapse((joined, key)), (*forms, form), (*keys, key)): None
                       for joined, forms, keys in paths for form, key in alts[end] if key}
                paths = {p: None for p in itertools.islice(nxt, 16) if p[0] in self._skeleton_prefixes}
                if not paths:
                    break
                span = toks[start:end + 1]
                for joined, forms, keys in paths:
                    needed = RESPELT_MIN + self._crowd.get(len(joined), 0)
                    if len(joined) + len(span) < needed:
                        continue
                    for i, words, vowels, reordered, name_forms, _first, script, short in self._skeleton.get(joined, ()):
                        if (script not in RESPELT_SCRIPTS or reordered or short or len(words) != len(span)
                                or self.patterns[i].person_id in found):
                            continue
                        exact = sum(t == f for t, f in zip(span, name_forms, strict=True))
                        if (len(joined) + exact < needed or keys != words
                                or any(_first_vowel(t) != v for t, v in zip(forms, vowels, strict=True))
                                or any(vetoed(t, f, exact) for t, f in zip(span, name_forms, strict=True))
                                or any(t in foreign() for t in span)):
                            continue
                        self._hit(found, i, " ".join(span), "respelt")

    def _find_skeletons(self, toks: list[tuple[str, bool, str, bool] | None], found: dict[str, NameMatch],
                        dotted: frozenset[str] = frozenset(), japanese: bool = False, prompt: str = "") -> None:
        """A registered Latin name spelt in another script: a run of foreign tokens of one kind whose
        consonant skeleton is the name's, word for word; where the script writes vowels (Cyrillic,
        Greek, kana) the first word's first vowel is also alike ("Кинг-конг" is not "Kuni Gino").
        Where many registered skeletons are as long as this one, the match needs more evidence
        (``_skeleton_evidence``): a chance match is then likely. A Cyrillic or Greek word is also
        read without a case ending (Путиным). A short form the person chose (``_short_skeleton``)
        must be whole words and sound alike; "Initial. Surname" needs the initial and its dot
        (``dotted``) right before. In a Japanese prompt (``japanese``: it has kana) Chinese characters
        are Japanese words (盆栽), and foreign short forms are written in katakana."""
        keys = [None if t is None else _token_keys(t) for t in toks]
        soft, foreign = (set(), {}) if japanese else _han_segments(toks)
        for start, tok in enumerate(toks):
            if tok is None or tok[2] == "initial" or (tok[2] in ("hangul", "thai") and not tok[1]):
                continue
            kind = tok[2]
            paths: dict[tuple[str, tuple[str, ...]], None] = {("", ()): None}  # (skeleton so far, the tokens as read)
            for end in range(start, min(len(toks), start + SKELETON_SPAN)):
                if keys[end] is None or toks[end][2] != kind:
                    break
                # every reading of every token kept apart: Илоном read as "ilonom" and as "ilon" give one skeleton
                # with Маском, but only the second aligns with Elon Musk word for word
                nxt = {(_collapse((joined, key)), (*texts, text)): None for joined, texts in paths for key, text in keys[end]}
                paths = {p: None for p in itertools.islice(nxt, 16) if p[0] in self._skeleton_prefixes}
                if not paths:
                    break
                ends_word = (end + 1 == len(toks) or toks[end + 1] is None or toks[end + 1][1] or toks[end + 1][2] != kind
                             or end + 1 in soft)
                # Chinese: a foreign name begins a run of the characters foreign names are spelt with (so every
                # Chinese check after this one holds only such characters: 葡京, 商品照, 台灣珍珠 never get here), and
                # ends a word (马赛克, 提 may follow). In a Japanese prompt there are no such runs: Chinese
                # characters are Japanese words, and Japanese writes foreign names in katakana.
                if kind == "han" and not (foreign.get(start, (-1,))[0] == start and all(q in foreign for q in range(start, end + 1))
                                          and (foreign[end][1] == end or end + 1 in soft)):
                    continue
                for joined, texts in paths:
                    span = [(text, *t[1:]) for text, t in zip(texts, toks[start:end + 1], strict=True)]
                    # in syllables a short skeleton is any run of them, but a Hangul name is written in whole words
                    # (시진핑, 재키 찬), which must then sound alike
                    if not (kind in SYLLABLES and len(joined) < SKELETON_MIN_SYLLABLES) or (
                            (kind in ("hangul", "thai") and tok[1] or kind == "han" and (tok[1] or start in soft)
                             and not common_word("".join(t[4] for t in span)))  # 马卡龙 is a macaron
                            and ends_word and len(joined) >= SKELETON_MIN):
                        self._skeleton_hits(self._skeleton, self._crowd, joined, span, kind, ends_word, found)
                    if (tok[1] or start in soft) and (ends_word or kind not in ("hangul", "thai")) and not (kind == "han" and japanese):
                        self._skeleton_hits(self._short_skeleton, self._crowd_short, joined, span, kind, ends_word, found,
                                            prompt=prompt)
                        before = toks[start - 1] if start else None
                        if before is not None and len(before[0]) == 1 and before[0] in dotted:
                            self._skeleton_hits(self._initial_skeleton, self._crowd_initial, joined, span, kind, ends_word,
                                                found, before[0])

    def _skeleton_hits(self, index: dict, crowd: dict[int, int], joined: str, span: list, kind: str, ends_word: bool,
                       found: dict[str, NameMatch], initial: str = "", prompt: str = "") -> None:
        crowded = crowd.get(len(joined), 0)
        for i, words, vowels, reordered, forms, first, script, short in index.get(joined, ()):
            if (self.patterns[i].person_id in found or script and kind != script
                    or kind in ("vowels", "kana") and _first_vowel(span[0][0]) != vowels[0]
                    or reordered and kind in ("word", "indic", "thai")):  # family name first: CJK and Cyrillic custom, not Arabic's or Hindi's
                continue
            groups = _aligned(words, [skeleton(t[0]) for t in span], [t[1] for t in span], kind)
            if groups is None:
                continue
            evidence = _skeleton_evidence(words, vowels, reordered, span, groups, kind, ends_word, forms)
            if kind == "thai" and all(_thai_common(t[4]) for t in span):
                continue  # Thai words, not a name in syllables: เล่นน้ำ (playing in water), สูง (high)
            if kind in ("word", "indic", "vowels") and _function_word_group(span, groups):
                continue  # no word of a name is written as a function word: Persian در سبد is not Taylor Swift
            if short:  # a short form: whole words, sounding alike, after its initial, not function words
                if (_function_word_group(span, groups) or kind not in SYLLABLES and any(n > 1 for _, n in groups)
                        or kind == "han" and len(span) < 2 or not _sound_alike(forms, span, groups, kind)
                        or any(_common_groups(span, groups)) and not _strictly_alike(forms, span, groups, kind)
                        or first and not (skeleton(first) == skeleton(initial) and (skeleton(first) or initial in "aeiouy"))
                        or kind == "kana" and not initial and prompt
                        and _in_longer_foreign_name([t[4] for t in span], prompt, self._own_words[self.patterns[i].person_id])):
                    continue
                evidence += 2
            elif kind == "han" and _run_together(span, groups) and len(joined) < SKELETON_MIN_SYLLABLES:
                continue  # 马卡龙 is one word, not Marko Roraan
            elif kind in ("kana", "hangul", "thai") and not _sound_alike(forms, span, groups, kind):
                continue  # kana and Hangul spell every vowel: ジャッキー・チュン is not Jackie Chan
            elif kind == "word" and _unforeign_letters(span, crowded) and not _sound_alike(forms, span, groups, kind):
                continue  # يلعب كرة (plays ball) has the skeleton of Elif Kohl, not its sound
            elif kind == "vowels" and (not all(_voicing_alike(forms[w], span[j][0]) for w, j in _group_starts(groups))
                                       or any(_hushing_apart(forms[w], span[j:j + 1]) for w, j in _group_starts(groups)
                                              if "\u0400" <= span[j][4][:1] <= "\u04ff")):
                continue  # Cyrillic and Greek write a word's first consonant voiced or not (Тунбергия крылатая is not Greta Thunberg), Cyrillic its hushing sounds apart
            if evidence >= 0 and evidence >= len(joined) - 1 + crowded or not crowded and not short:
                self._hit(found, i, " ".join(t[0] for t in span), "skeleton")

    def _hit(self, found, i: int, text: str, how: str) -> None:
        p = self.patterns[i]
        found.setdefault(p.person_id, NameMatch(p.name, text, how))

    def _find_in(self, toks: tuple[str, ...], found: dict[str, NameMatch], capitalised=frozenset(),
                 syllables=frozenset(), prompt: str = "", memo: _PromptMemo | None = None) -> None:
        """Matches on one reading. ``syllables``: the prompt's Chinese, Korean and hiragana characters
        in Latin letters, one syllable each; a Latin name found only in them is found by its consonant
        skeleton (``_find_skeletons``) or written as one word ("xi jin ping"), not by its words: "shi"
        and "no" (富士山の) are any short syllables, and two of them are some name among thousands.
        A name in Chinese characters written only inside a longer set phrase is not found (望子成龙)."""
        pats = self.patterns
        memo = memo or _PromptMemo(prompt, None)
        cased: list[frozenset[str]] = []

        def capitalised_words() -> frozenset[str]:  # computed for the first split name only
            if not cased:  # and the words presented as names in this reading: "last name swift"
                cased.append(memo.capitals() | {toks[q + 1] for q in range(len(toks) - 1) if toks[q] in NAME_CUES})
            return cased[0]

        def in_phrase(i: int) -> bool:
            return i in self._han_aliases and memo.in_phrases_only(self._han_aliases[i])

        def heard_only(i: int, words) -> bool:
            alias = self._han_aliases.get(i)
            return (alias is not None and len(alias) < HAN_HOMOPHONE_MIN and bool(syllables) and set(words) <= syllables
                    and not memo.writes(alias))

        def elsewhere(i: int, start: int, end: int) -> bool:
            """A one-word name or short form the prompt gives another referent (``_named_otherwise``)."""
            p = pats[i]
            if len(p.words) != 1:
                return False
            if ACRONYM.fullmatch(p.name) and memo.acronym_spelt_out(p.name):
                return True
            return _named_otherwise(toks, start, end, p.cased, memo.prompt, memo.capitals(), self._own_words[p.person_id])

        def hit(i: int, text: str, how: str) -> None:
            if ((how == "joined" or pats[i].native or not syllables or not set(text.split()) <= syllables) and not in_phrase(i)
                    and not heard_only(i, text.split())):
                self._hit(found, i, text, how)
        ordinary = ordinary_words()
        # pattern → word index → prompt position → strength (STRONG: exact or one edit; SOUND:
        # phonetic key; WEAK: the phonetic key of a short word, which needs a strong partner).
        hits: dict[int, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for pos, tok in enumerate(toks):
            # Words of multi-word names.
            key = phonetic_key(tok)
            for i, w_i in self._phonetic.get(key, ()) if len(tok) > 2 else ():
                word = pats[i].words[w_i]
                # An ordinary word sounding like a name's word must also be spelt nearly like it.
                if tok in ordinary and not _osa1(tok, word):
                    continue
                # A key of two letters is coarse ("made" and "modi" are both MT): the first vowels must be alike too.
                if len(key) > 2 or _first_vowel(tok) == _first_vowel(word):
                    hits[i][w_i][pos] = WEAK if len(word) < 4 else SOUND
            for i, w_i in self._exact.get(tok, ()):
                hits[i][w_i][pos] = STRONG if len(tok) > 2 else WEAK  # "an", "to", "li": a partner needed
            if len(tok) >= FUZZY_MIN_LEN - 1:
                for d in _deletions(tok):
                    for i, w_i in self._fuzzy.get(d, ()):
                        if _osa1(tok, pats[i].words[w_i]):
                            hits[i][w_i][pos] = max(hits[i][w_i].get(pos, WEAK), STRONG)
            # One-word names, aliases and surnames; one with particles needs them around it as written.
            for i in self._single.get(tok, ()):
                p = pats[i]
                start = pos - p.phrase.index(tok) if p.phrase else pos
                if (not p.phrase or (start >= 0 and toks[start:start + len(p.phrase)] == p.phrase
                                     and (not p.cased or tok in capitalised))) and not elsewhere(i, start, start + len(p.phrase or (tok,))):
                    hit(i, tok, "single")
            if tok.endswith("s") and len(tok) > 4 and tok not in ordinary:  # "the obamas", "two putins"
                for i in self._single.get(tok[:-1], ()):
                    if not pats[i].phrase and not elsewhere(i, pos, pos + 1):
                        hit(i, tok, "single")
            if len(tok) >= FUZZY_MIN_LEN - 1:
                for d in _deletions(tok):
                    for i in self._single_fuzzy.get(d, ()):
                        p = pats[i]
                        if (not p.native and not p.phrase and not p.exact_only and len(tok) >= FUZZY_MIN_LEN
                                and _osa1(tok, p.words[0]) and not elsewhere(i, pos, pos + 1)):
                            hit(i, tok, "single")
            if len(tok) >= FUZZY_MIN_LEN - 1:
                for i in self._single_phonetic.get(phonetic_key(tok), ()):
                    word = pats[i].words[0]
                    if (tok[0] == word[0] and jellyfish.jaro_winkler_similarity(tok, word) >= SINGLE_SOUND_SIMILARITY
                            and len(tok) <= len(word) + SINGLE_SOUND_LONGER
                            and not (word[-1] in "aeiou" and tok[-1] not in "aeiouyh")  # Rhiannon is not Rihanna
                            and (not _ordinary_inflected(tok, ordinary) or _osa1(tok, word))  # a park bench is not Beyoncé,
                            # nor are bayonets; a word of another language only written as a name (abelha rainha, Riana)
                            and (_osa1(tok, word) or not latin_common_word(tok) or tok in memo.capitals())
                            and not elsewhere(i, pos, pos + 1)):
                        hit(i, tok, "single")
            # Names written as one word: this word alone, or up to three words joined exactly.
            for n in (1, 2, 3):
                solid = "".join(toks[pos:pos + n]) if pos + n <= len(toks) else ""
                for i in self._joined.get(solid, ()):
                    if ((n == 1 or not pats[i].cased or pats[i].words[0] in capitalised)  # "#therock", "The Rock"
                            and not elsewhere(i, pos, pos + n)):
                        hit(i, " ".join(toks[pos:pos + n]), "joined")
            if len(tok) >= JOINED_FUZZY_MIN_LEN - 1:
                for d in _deletions(tok):
                    for i in self._joined_fuzzy.get(d, ()):
                        if _osa1(tok, "".join(pats[i].words)):
                            hit(i, tok, "joined")
            # "T. Swift": the initial right before the surname.
            if pos:
                for i, initial in self._initial.get(tok, ()):
                    if toks[pos - 1] == initial:
                        hit(i, f"{initial} {tok}", "initial-surname")
                if len(tok) >= FUZZY_MIN_LEN and toks[pos - 1] not in WORD_LETTERS:
                    for d in _deletions(tok):
                        for i, initial in self._initial_fuzzy.get(d, ()):
                            if toks[pos - 1] == initial and _osa1(tok, pats[i].words[0]):
                                hit(i, f"{initial} {tok}", "initial-surname")
        for i, by_word in hits.items():
            p = pats[i]
            if (len(by_word) == len(p.words) - 1 and not p.native and p.person_id not in found
                    and any(STRONG in at.values() for at in by_word.values())):
                self._one_slip(p, by_word, toks, ordinary)
            if p.person_id in found or len(by_word) < len(p.words):
                continue
            span = self._span(p, by_word, toks, ordinary, capitalised_words)
            # the name's own words decide whether it was read only in syllables, not the words between
            # them (ムハンマド・アリのボクシングの試合: "no" and "shi" are syllables, ボクシング a katakana word)
            if (span is not None and (p.native or not syllables or not {toks[q] for q in span[2]} <= syllables) and not in_phrase(i)
                    and not heard_only(i, [toks[q] for q in span[2]])):
                self._hit(found, i, " ".join(toks[span[0]:span[1] + 1]), "words")

    @staticmethod
    def _one_slip(p: _Pattern, by_word: dict[int, dict[int, int]], toks: tuple[str, ...], ordinary: frozenset[str]) -> None:
        """The one word of a name not found, when its other words are there as spelt (or one edit from a
        long word): the prompt word next to them, one edit from it however short, is that word ("taylor
        swif", "narendra mdi", "Martin Luther Kign", "Tsylor Swigt", "Khim Jong Un"), unless it is a
        common word of a Latin-script language: a first name and an ordinary word are no name ("Elon
        must go home", "Elon muss ...", "Shinzo ate breakfast"). A name's word of two letters only beside
        four letters of uncommon ones ("Kim Jong Uj")."""
        (w,) = set(range(len(p.words))) - set(by_word)
        word = p.words[w]
        if len(word) < 2:
            return
        # the candidates first (most patterns with a word missing have none): a prompt word beside a found one
        near = [q for q in [*(pos + 1 for pos in by_word.get(w - 1, {})), *(pos - 1 for pos in by_word.get(w + 1, {}))]
                if 0 <= q < len(toks) and len(toks[q]) >= 2 and _osa1(toks[q], word)]
        if not near:
            return
        spelt = []
        for k, at in by_word.items():
            pos = next((q for q, s in at.items() if toks[q] == p.words[k] or s == STRONG and len(p.words[k]) >= FUZZY_MIN_LEN), None)
            if pos is None:
                return
            spelt.append(toks[pos])
        if max(map(len, spelt)) < 3:
            return  # the words found, not all of two letters ("to", "no": some name among thousands has them)
        if len(word) == 2 and sum(len(t) for t in spelt if t not in ordinary) < 4:
            return
        # a common word slipped into a name all the same when two of its words are there as spelt ("Kin
        # Jong Un"), or one long, uncommon one ("Xu Jinping"; not in English: "Shinzo ate")
        distinct = any(len(t) >= FUZZY_MIN_LEN and t not in ordinary and not latin_common_word(t) for t in spelt)
        for q in near:
            t = toks[q]
            if (t not in ordinary and (not latin_common_word(t) or distinct)
                    or len(spelt) >= 2 and len(t) >= 3):
                by_word[w] = {q: STRONG}
                return

    @staticmethod
    def _span(p: _Pattern, by_word: dict[int, dict[int, int]], toks: tuple[str, ...], ordinary=frozenset(),
              capitalised=lambda: frozenset()) -> tuple[int, int, tuple[int, ...]] | None:
        """The first placement of the name's words on distinct prompt words within the window
        (in order and adjacent for a name written in another script); a word matched only by the
        sound of a short word needs another word matched by its letters, and a name matched by sound
        alone must stand as written: adjacent words (or joined by particles, "ludvig fon baytoven"), each
        of three Metaphone letters or more, or in order beginning with the name's letters
        (``_sounds_as_written``: "eelon musck"). A name split by other words ("Taylor, in a red dress,
        Swift") has each word as spelt, and its later words are not all ordinary lowercase words: "Taylor
        sweeps the porch while a swift circles", "Leo makes a mess", "Mohammed grills salmon" name no one,
        "jackie jumping between rooftops, last name chan" does."""
        n = len(p.words)
        options = [sorted(by_word[w])[:8] for w in range(n)]
        for placement in itertools.product(*options):
            if len(set(placement)) < n:
                continue
            lo, hi = min(placement), max(placement)
            strengths = [by_word[w][pos] for w, pos in enumerate(placement)]
            split = any(toks[q] not in JOINING for q in range(lo, hi + 1) if q not in placement)
            if max(strengths) < STRONG and (split or not (
                    _short_beside_long(strengths, toks, placement) if WEAK in strengths else
                    all(len(jellyfish.metaphone(toks[pos])) >= 3 for pos in placement) or _sounds_as_written(p.words, toks, placement))):
                continue
            if split and (any(toks[pos] != word for word, pos in zip(p.words, placement, strict=True))
                          or not _written_as_names(placement, toks, ordinary, capitalised)):
                continue
            if any(toks[pos] == word + "s" and (toks[after] in ordinary or toks[after] != nxt) and toks[after] not in capitalised()
                   for word, nxt, pos, after in zip(p.words, p.words[1:], placement, placement[1:])):
                continue  # a possessive, then an ordinary word: "Taylor's swift canoe", "Lionel's messy room"
            if p.native:
                if list(placement) == list(range(placement[0], placement[0] + n)):
                    return lo, hi, placement
            elif hi - lo + 1 <= n + (WINDOW_WIDE if split else WINDOW_EXTRA):
                return lo, hi, placement
        return None


def find(prompt: str, names: dict[str, tuple[str, ...]],
         forms: dict[str, tuple[ShortForm, ...] | None] | None = None) -> dict[str, NameMatch]:
    """person id → first match, over every person's names, aliases and short forms (builds an
    index for this one call; the likeness checker keeps one)."""
    forms = forms or {}
    return NameIndex({pid: (n, forms.get(pid)) for pid, n in names.items()}).find(prompt)


def mentions(prompt: str, name: str) -> bool:
    return bool(NameIndex({"p": ((name,), ())}).find(prompt))
