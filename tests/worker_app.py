"""An app for ``uvicorn worker_app:app --app-dir tests --workers N`` in the AMPED tests."""

import os

from flashstatic import FlashStatic

app = FlashStatic(directory=os.environ["FLASHSTATIC_TEST_ROOT"])
