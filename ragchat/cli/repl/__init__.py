"""The interactive chat (`ragchat repl`): prompt, slash commands, streamed rendering."""
