"""Whether the vosk model speaks ``[asr] language``: by its folder's name and README at load, by its words in a run.

A model of another language loads and recognises: it prints the words of its own language for whatever is
said, none of which the lexicon's phrases match, so a run published no question, echo or acknowledgement
and a believable speaking rate, with no word of warning. The words are counted, never kept nor shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from listener.config import Config
from listener.transcription.lexicon import Lexicon, available_languages
from listener.transcription.models import DEFAULT_FOR_LANGUAGE, fetch_command, models_dir
from listener.transcription.words import Word

log = logging.getLogger(__name__)

# the codes vosk's model folders use (vosk-model-small-cn-0.22 is Chinese), with the names their READMEs use
NAMES = {
    "en": "English", "ko": "Korean", "cn": "Chinese", "zh": "Chinese", "ru": "Russian", "fr": "French",
    "de": "German", "es": "Spanish", "pt": "Portuguese", "it": "Italian", "nl": "Dutch", "ja": "Japanese",
    "tr": "Turkish", "vn": "Vietnamese", "uk": "Ukrainian", "pl": "Polish", "hi": "Hindi", "fa": "Persian",
    "ar": "Arabic", "ca": "Catalan", "sv": "Swedish", "cs": "Czech", "kz": "Kazakh", "el": "Greek",
    "uz": "Uzbek", "eo": "Esperanto", "tl": "Filipino", "gu": "Gujarati", "te": "Telugu", "br": "Breton",
}  # fmt: skip
_FOLDER = re.compile(r"vosk[-_]model[-_](?:small[-_])?([a-z]{2})(?:[-_]|$)")
CHECK_AFTER_WORDS = 30  # words a run recognises before its language is judged (about 20 s of talk)
MIN_COMMON_SHARE = 0.05  # fewer of them common words of the language than this: another language's model


def named_language(path: Path) -> str | None:
    """The language the model folder's name (or its parent's) or the first line of its README names, if one."""
    for name in (path.name, path.parent.name):
        found = _FOLDER.match(name.lower())
        if found and found.group(1) in NAMES:
            return NAMES[found.group(1)]
    try:
        first = (path / "README").read_text(encoding="utf-8", errors="replace").partition("\n")[0]
    except OSError:
        return None
    named = {NAMES[code] for code in NAMES if re.search(rf"\b{NAMES[code]}\b", first)}
    return named.pop() if len(named) == 1 else None


def language_name(code: str) -> str:
    return NAMES.get(code, f'"{code}"')


def _a(name: str) -> str:
    return f"an {name}" if name[0] in "AEIOU" else f"a {name}"


def named_mismatch(path: Path, language: str) -> str | None:
    """What says the model at ``path`` is not of ``language`` ([asr] language), if anything does."""
    named = named_language(path)
    if named is None or named == language_name(language):
        return None
    return f"is named {_a(named)} model, and [asr] language is {language}"


def mismatch_fix(config: Config, path: Path, config_file: Path | None = None) -> str:
    """How to give the recogniser a model of [asr] language, or the lexicon the model's language
    (``config_file``: the file ``config`` came from, which fetch is then to read)."""
    language = config.asr.language
    key = DEFAULT_FOR_LANGUAGE.get(language)
    model = f"point [asr] model_path at {_a(language_name(language))} vosk model"
    if key is not None:
        fetch = f"`{fetch_command(key, config_file, models_dir(config))}`"
        if config.asr.model_path:
            model = f"run {fetch} and empty [asr] model_path, or {model}"
        else:  # the default folder holds another model: fetch keeps a model it did not put there
            model = f"delete the folder {path}, then run {fetch}"
    return f"{model}{_model_language(path)}; until then no content cue is found"


def _model_language(path: Path) -> str:
    """The offer to set [asr] language to the model's, where a lexicon is shipped for it: the config refuses
    any other ("no lexicon for it"), so offering it sent the reader to an error."""
    named = named_language(path)
    codes = [code for code in available_languages() if named is not None and NAMES.get(code) == named]
    return f'; or set [asr] language = "{codes[0]}", the model\'s language' if codes else ""


class WordLanguage:
    """Judges once, after CHECK_AFTER_WORDS words of a run, whether they are of the lexicon's language."""

    def __init__(self, lexicon: Lexicon, config: Config, path: Path) -> None:
        self.lex = lexicon
        self.config = config
        self.path = path
        self.words = 0
        self.common = 0
        self.judged = False

    def heard(self, words: Sequence[Word]) -> None:
        if self.judged:
            return
        for word in words:
            for norm in self.lex.normalise(word.text):
                if self.lex.spoken(norm):
                    self.words += 1
                    self.common += norm in self.lex.common
        if self.words < CHECK_AFTER_WORDS:
            return
        self.judged = True
        if self.common < MIN_COMMON_SHARE * self.words:
            name = language_name(self.config.asr.language)
            log.warning(
                "the vosk model at %s does not seem to be %s model: %d of the first %d words it recognised are"
                " common %s words (in %s talk a third or more are); %s",
                self.path,
                _a(name),
                self.common,
                self.words,
                name,
                name,
                mismatch_fix(self.config, self.path),
            )
