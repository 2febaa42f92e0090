"""Hosting packages (WHM's "plans"): their limits, listpkgs and addpkg."""

from __future__ import annotations

import re
from typing import Any

from ..common.state import StateStore
from .api import Done, Params, WhmFailure, required

SEED_PACKAGES = {
    # name: (quota MB, bandwidth MB, mailboxes); 0 means unlimited, as in WHM.
    # "default" is on every WHM server: createacct uses it when no plan is given.
    "default": (0, 0, 0),
    "mpanel_student": (5120, 51200, 5),
    "mpanel_starter": (20480, 204800, 25),
    "mpanel_business": (51200, 0, 100),
}


def seed_packages() -> dict[str, dict[str, Any]]:
    return {
        name: {"name": name, "quota_mb": quota, "bwlimit_mb": bw, "maxpop": pop}
        for name, (quota, bw, pop) in SEED_PACKAGES.items()
    }


class Packages:
    store: StateStore

    def listpkgs(self, params: Params) -> Done:
        with self.store.view() as state:
            packages = sorted(state["packages"].values(), key=lambda p: p["name"])
        return Done({"pkg": [_package_view(p) for p in packages]})

    def addpkg(self, params: Params) -> Done:
        name = required(params, "name")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise WhmFailure(f"“{name}” is not a valid package name.")
        with self.store.change() as state:
            if name in state["packages"]:
                raise WhmFailure(f"The package “{name}” already exists.")
            state["packages"][name] = {
                "name": name,
                "quota_mb": limit(params, "quota", 0),
                "bwlimit_mb": limit(params, "bwlimit", 0),
                "maxpop": limit(params, "maxpop", 0),
            }
        return Done({"pkg": name}, reason=f"Created the package {name}.")


    def killpkg(self, params: Params) -> Done:
        name = required(params, "pkgname")
        with self.store.change() as state:
            if name not in state["packages"]:
                raise WhmFailure(f"The package “{name}” does not exist.")
            # WHM deletes a package even when accounts use it; they keep its name and limits.
            del state["packages"][name]
        return Done(reason=f"The package “{name}” was deleted.")


def limit(params: Params, name: str, default: int) -> int:
    """A size or count limit in WHM's form: a number, or "unlimited" (stored as 0)."""
    value = params.get(name, "")
    if value == "":
        return default
    if value.lower() == "unlimited":
        return 0
    if not value.isdigit():
        raise WhmFailure(f"The “{name}” parameter must be a whole number or “unlimited”.")
    return int(value)


def limit_text(value: int) -> str:
    return str(value) if value else "unlimited"


def _package_view(package: dict[str, Any]) -> dict[str, Any]:
    # listpkgs uses upper-case keys and string values: a quirk clients must handle.
    return {
        "name": package["name"],
        "QUOTA": limit_text(package["quota_mb"]),
        "BWLIMIT": limit_text(package["bwlimit_mb"]),
        "MAXPOP": limit_text(package["maxpop"]),
        "FEATURELIST": "default",
    }
