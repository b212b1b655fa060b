"""``wordrnn serve``: the predictor over HTTP (a JSON API and a web page with a live suggestion bar).

``limits`` reads and checks request bodies, ``sessions`` keeps typing clients' recurrent states,
``worker`` runs every model call on one thread and ``app`` puts them together as a Starlette
application; the page lives in ``static/``. The CLI command (``cli/serve.py``) binds the socket and
runs it under uvicorn.
"""
