"""`grace run`'s flags are OperatorConfig's fields: one source, nothing to forget."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from grace.cli import run_cmd
from grace.cli.main import main
from grace.runtime.config import OperatorConfig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


def test_no_flags_give_the_default_configuration() -> None:
    assert run_cmd.config_of(parse()) == OperatorConfig()


def test_every_field_has_a_flag_with_help() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    run_cmd.register(sub)
    run = sub.choices["run"]
    dests = {a.dest: a for a in run._actions if a.dest != "help"}
    assert set(dests) == set(OperatorConfig.model_fields)
    assert all(a.help for a in dests.values())


def test_flags_reach_the_configuration_typed() -> None:
    config = run_cmd.config_of(
        parse(
            "-n", "shop", "--namespace", "payments",
            "--prometheus-timeout", "2.5",
            "--policy-engine", "opa",
            "--ledger-backend", "configmap",
            "--signing-key", "/etc/grace/key.pem",
            "--metrics-port", "0",
            "--metrics-address", "127.0.0.1",
            "--leader-elect",
        )
    )  # fmt: skip
    assert config.namespaces == ["shop", "payments"]
    assert config.prometheus_timeout == 2.5
    assert (config.policy_engine, config.ledger_backend) == ("opa", "configmap")
    assert config.signing_key == Path("/etc/grace/key.pem")
    assert (config.metrics_port, config.metrics_address) == (0, "127.0.0.1")
    assert config.leader_elect


@pytest.mark.parametrize(
    "argv",
    [("--policy-engine", "rego"), ("--metrics-port", "eighty"), ("--mission-tick", "soon")],
)
def test_a_wrong_flag_value_is_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_values_argparse_cannot_check_are_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="prometheus_timeout"):
        run_cmd.config_of(parse("--prometheus-timeout", "0"))


def test_grace_run_names_the_flag_it_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--prometheus-timeout", "0"]) == 2
    assert capsys.readouterr().err == (
        "grace run: error: --prometheus-timeout: Input should be greater than 0\n"
    )
