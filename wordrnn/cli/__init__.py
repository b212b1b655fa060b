"""The command line (Typer) and the prompt_toolkit REPL: the only layer that prints, exits or speaks in flags.
"""
