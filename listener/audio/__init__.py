"""Audio sources: a live mic array (pyaudio) or a WAV file, behind one interface."""
