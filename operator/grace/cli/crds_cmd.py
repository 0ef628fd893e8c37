"""`grace crds`: print or write the generated CRDs (what `make crds` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grace.api import crdgen
from grace.run.actions import catalogdoc


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the models")
    p.add_argument(
        "--write",
        type=Path,
        metavar="REPO",
        help="write crds/, charts/grace/crds/ and docs/actions.md under REPO instead of printing",
    )
    p.set_defaults(func=_crds)


def _crds(args: argparse.Namespace) -> int:
    if args.write:
        for path in crdgen.write([args.write / "crds", args.write / "charts" / "grace" / "crds"]):
            print(path)
        print(catalogdoc.write(args.write))
        return 0
    print("---\n".join(crdgen.rendered().values()), end="")
    return 0
