"""`grace run`: start the operator (kopf); its flags are OperatorConfig's fields."""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import Any

from grace.cli.errors import UsageError
from grace.runtime.config import OperatorConfig, flags_of


def _flag(name: str, field: Any, default: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The argparse flag of one OperatorConfig field."""
    flags = flags_of(name)
    kwargs: dict[str, Any] = {"dest": name, "help": field.description}
    annotation = field.annotation
    if annotation is bool:
        return flags, {**kwargs, "action": "store_true"}
    kwargs["metavar"] = flags[-1].removeprefix("--").upper().replace("-", "_")
    if typing.get_origin(annotation) is list:
        return flags, {**kwargs, "action": "append", "default": []}
    kwargs["default"] = default
    if typing.get_origin(annotation) is typing.Literal:
        kwargs["choices"] = list(typing.get_args(annotation))
        kwargs["metavar"] = "{" + ",".join(kwargs["choices"]) + "}"
    elif annotation in (int, float, Path):
        kwargs["type"] = annotation
    elif annotation == Path | None:
        kwargs["type"] = Path
    if default is not None:
        kwargs["help"] = f"{field.description} (default: {default})"
    return flags, kwargs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the operator against the current kube context",
        description="Run the GRACE operator against the current kube context (KUBECONFIG).",
    )
    defaults = OperatorConfig()
    for name, field in OperatorConfig.model_fields.items():
        flags, kwargs = _flag(name, field, getattr(defaults, name))
        p.add_argument(*flags, **kwargs)
    p.set_defaults(func=_run)


def config_of(args: argparse.Namespace) -> OperatorConfig:
    """The validated configuration a parsed `grace run` command line stands for."""
    return OperatorConfig(**{name: getattr(args, name) for name in OperatorConfig.model_fields})


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        config = config_of(args)
    except ValidationError as e:
        raise UsageError(
            "; ".join(f"{flags_of(str(err['loc'][0]))[-1]}: {err['msg']}" for err in e.errors())
        ) from e
    from grace.handlers import register  # the operator's imports only once the flags are good
    from grace.runtime.app import run

    return run(config, register)
