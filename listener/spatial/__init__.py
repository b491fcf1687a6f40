"""Spatial attribution: who is speaking, by direction of arrival or by channel."""
