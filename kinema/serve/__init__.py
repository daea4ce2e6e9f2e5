"""`kinema serve`: OpenAI's Videos API over a persistent job queue, and a web page.

store.py (SQLite jobs, files beside them), generate.py (the generator protocol, the world stand-in, the pipeline
adapter, the moderation hook), worker.py (the worker pool), params.py (sizes, lengths, errors), app.py (HTTP),
server.py (binding and running), static/ (the page).
"""
