"""The model manager: local GGUF files, downloads from a model hub, the recommended models
for this machine, and the active model the workers load (issue 16)."""
