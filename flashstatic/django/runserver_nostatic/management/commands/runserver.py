"""``runserver`` with ``--nostatic`` as its default.

Which runserver this one extends depends on INSTALLED_APPS (staticfiles' own, or another
app's, or Django's), so the class is found when the command is loaded: the first app listed
after ours that has a runserver command, else Django's.
"""

from __future__ import annotations

from argparse import ArgumentParser
from importlib import import_module
from typing import Any

from django.apps import apps

_OURS = __name__.rsplit(".management.", 1)[0]


def apps_after_ours() -> list[str]:
    names = [config.name for config in apps.get_app_configs()]
    return names[names.index(_OURS) + 1 :] if _OURS in names else names


def next_runserver() -> Any:
    """The runserver command class this app's would otherwise have shadowed."""
    for name in [*apps_after_ours(), "django.core"]:
        try:
            return import_module(f"{name}.management.commands.runserver").Command
        except ImportError:
            continue
    raise RuntimeError("no runserver command found")  # django.core always has one


class Command(next_runserver()):  # type: ignore[misc]
    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        # Only staticfiles' runserver has the option; another one is left as it is.
        if parser.get_default("use_static_handler") is True:
            parser.set_defaults(use_static_handler=False)
            parser.description = (parser.description or "") + (
                f"\n(--nostatic is the default: {_OURS!r} leaves static files to FlashStaticMiddleware)"
            )
