"""Which models there are and which one to run: local models and the ones in use (registry),
downloads from the Hugging Face hub (download), named presets per kind of machine and the
recommendation for this one (presets), what a model can do (capabilities), and what a model
needs in GPU memory (vram). It reads the machine through ragchat.machine, never through llm/."""
