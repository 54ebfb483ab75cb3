"""A Flask app whose static files flashstatic serves under gunicorn.

    cd examples/flask_gunicorn
    gunicorn --worker-class gthread --threads 4 --bind 127.0.0.1:8000 app:app

Flask's own static route is switched off (static_folder=None): every /static/ request is
answered by FlashStaticWSGI (sendfile for large files, ranges, .gz/.br siblings, 304s) before
it reaches Flask; everything else goes to Flask.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from flashstatic import FlashStaticWSGI

HERE = Path(__file__).resolve().parent

app = Flask(__name__, static_folder=None)


@app.get("/")
def index() -> str:
    return '<!doctype html><link rel="stylesheet" href="/static/style.css"><h1>Hello from Flask</h1>'


# WhiteNoise's Flask recipe, with the class name changed.
app.wsgi_app = FlashStaticWSGI(app.wsgi_app, root=HERE / "static", prefix="static")  # type: ignore[method-assign]
