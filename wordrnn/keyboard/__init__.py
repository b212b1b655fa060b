"""The suggestion bar: the adaptation cache of the user's words, the keyboard that syncs typed text, and the
REPL's ``:`` commands (no terminal UI).
"""
