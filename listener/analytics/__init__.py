"""Conversation analytics: the speech timeline and the active-listening metrics."""
