"""ragchat: chat with your own documents on your own GPU, with sources."""

__version__ = "0.1.0"
