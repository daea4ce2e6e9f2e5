"""Operator-editable term lists (people, brands and characters to refuse) and the text normalisation they match on.

A list file has one name per line; `#` starts a comment, and a line starting with `!` is an allowed phrase, inside
which a name does not count ("!marvel at" keeps "tourists marvel at the aurora" from matching "Marvel", while "a
Marvel film" still does). Matching folds the prompt, the names and the allowed phrases to a skeleton:
Unicode compatibility forms (NFKC), case, accents, look-alike letters from other scripts (Cyrillic 'а', Greek 'ο'),
leetspeak digits and symbols ('t4yl0r', '$wift'), and spacing or punctuation inside a name ('t a y l o r',
'T.Swift', 'taylorswift' all match 'Taylor Swift'). A name matches only at word boundaries of the skeleton.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

# Letters from other scripts that look like Latin ones (a subset of Unicode's confusables that covers the common ones).
HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
        "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "һ": "h", "ո": "n", "ս": "u",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "ω": "w", "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe",
    }
)  # fmt: skip
# Leetspeak, folded the same way on both sides, so ambiguous ones ('1' for i or l) map to one letter class.
LEET = str.maketrans({"0": "o", "1": "i", "!": "i", "|": "i", "3": "e", "4": "a", "@": "a", "5": "s", "$": "s",
                      "7": "t", "+": "t", "8": "b", "9": "g", "l": "i"})  # fmt: skip
_WORD = re.compile(r"[a-z]+")


def normalize(text: str) -> str:
    """NFKC, case-folded, accents and look-alikes removed: the text a person would read."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(HOMOGLYPHS)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.translate(HOMOGLYPHS)


def skeleton_words(text: str) -> list[str]:
    """Words of the folded text after leetspeak; runs of single letters ('t a y l o r') are joined into one word."""
    folded = normalize(text).translate(LEET)
    folded = re.sub(r"(?<=[a-z])[.\-_*'’](?=[a-z])", "", folded)  # t.a.y.l.o.r, spider-man, mcdonald's
    words = _WORD.findall(folded)
    out: list[str] = []
    run: list[str] = []
    for w in words:
        if len(w) == 1:
            run.append(w)
            continue
        if len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        out.append(w)
    out.extend(["".join(run)] if len(run) >= 3 else run)
    return out


@dataclass
class TermList:
    """Names for one category; `find(text)` returns the names that occur in the text."""

    category: str
    names: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # phrases inside which a name does not count

    def __post_init__(self):
        self._keys = {}
        for name in self.names:
            key = "".join(skeleton_words(name))
            if key:
                self._keys.setdefault(key, name)
        self._allowed = [words for words in (skeleton_words(p) for p in self.allowed) if words]

    @classmethod
    def from_files(cls, category: str, paths: list[Path]) -> TermList:
        names: list[str] = []
        allowed: list[str] = []
        for path in paths:
            path = Path(path)
            if not path.is_file():
                raise ValueError(f"{category} list '{path}': no such file (one name per line)")
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("!"):
                    allowed.append(line[1:].strip())
                elif line:
                    names.append(line)
        return cls(category, names, allowed)

    def _covered(self, words: list[str]) -> set[int]:
        """Indices of the words that lie inside an allowed phrase."""
        covered: set[int] = set()
        for phrase in self._allowed:
            k = len(phrase)
            for i in range(len(words) - k + 1):
                if words[i : i + k] == phrase:
                    covered.update(range(i, i + k))
        return covered

    def find(self, text: str) -> list[str]:
        """Names whose skeleton equals the joined skeleton of 1 to 4 consecutive words of the text, unless all those
        words lie inside an allowed phrase."""
        words = skeleton_words(text)
        covered = self._covered(words) if self._allowed else set()
        found: dict[str, None] = {}
        for i in range(len(words)):
            joined = ""
            for j in range(i, min(i + 4, len(words))):
                joined += words[j]
                if covered.issuperset(range(i, j + 1)):
                    continue
                if joined in self._keys:
                    found[self._keys[joined]] = None
                if joined.endswith("s") and joined[:-1] in self._keys:  # plural or possessive: "Barbies", "Nike's"
                    found[self._keys[joined[:-1]]] = None
        return list(found)
