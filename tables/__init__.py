"""Windowed tables and the pure statistics they hold; installed as ``cryptoflow.tables``."""
