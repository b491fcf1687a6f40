"""On-device transcription, turned into active-listening cues.

Words live only inside this package, in memory, and only until the session
ends: what leaves it are the counts and cue events of
:mod:`listener.events` (``WordsRecognized``, ``Question``, ``Echo`` ...).
Nothing here logs, prints or stores a word.
"""
