"""The command line: the only package that imports click, prompt_toolkit or rich."""
