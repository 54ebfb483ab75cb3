"""A Flask app whose static files flashstatic serves under gunicorn.

    cd examples/flask_gunicorn
    gunicorn --worker-class gthread --threads 4 --bind 127.0.0.1:8000 app:app

Flask keeps its static folder, so url_for("static", filename=...) builds links as usual, but
every request under its static URL is answered by FlashStaticWSGI (sendfile for large files,
ranges, .gz/.br siblings, 304s) before it reaches Flask; everything else goes to Flask.
"""

from __future__ import annotations

from flask import Flask, url_for

from flashstatic import FlashStaticWSGI

app = Flask(__name__)


@app.get("/")
def index() -> str:
    stylesheet = url_for("static", filename="style.css")
    return f'<!doctype html><link rel="stylesheet" href="{stylesheet}"><h1>Hello from Flask</h1>'


# WhiteNoise's Flask recipe, with the class name changed: the same folder at the same URL.
app.wsgi_app = FlashStaticWSGI(app.wsgi_app, root=app.static_folder,  # type: ignore[method-assign]
                               prefix=app.static_url_path)
