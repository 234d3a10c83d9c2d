"""The HTTP sidecar: one-click, pages, the JSON API, metrics, under uvicorn."""
