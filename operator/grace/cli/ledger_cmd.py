"""`grace ledger verify|show|export|prove|consistency|keygen`: the auditor's view of the ledger.

Every command reads either a FILE (the file backend's ledger, or an export) or, with
`--from-cluster`, the ConfigMap segments through the current kubeconfig. Nothing here trusts
keys found beside the ledger: the trusted public keys always come from `--public-key`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grace.cli.errors import explain
from grace.ledger.configmapstore import ConfigMapStore, ConfigMapWitness, parse_segments
from grace.ledger.entry import Checkpoint, LedgerEntry, parse_time
from grace.ledger.keys import KeyFileError, Keyring, Signer, secret_manifest
from grace.ledger.proof import (
    prove_consistency,
    prove_mission,
    verify_consistency_proof,
    verify_mission_proof,
)
from grace.ledger.query import EntryFilter, mission_of, select
from grace.ledger.records import ParsedLog, parse_lines, render
from grace.ledger.store import LedgerCorruptedError
from grace.ledger.verify import Expectation, judge, verify_log

EXIT_OK, EXIT_TAMPERED, EXIT_USAGE = 0, 1, 2
KEYS_ENV = "GRACE_LEDGER_PUBLIC_KEYS"
MAX_OTHER_PROBLEMS = 5
_CLUSTER_ERRORS = frozenset(
    {"ApiException", "ConfigException", "MaxRetryError", "NewConnectionError"}
    | {"ClusterUnavailableError"}
    | {f"{kind}Exception" for kind in ("NotFound", "Forbidden", "Unauthorized", "Service")}
)

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2, never mistaken for a tampered ledger."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger = sub.add_parser(
        "ledger",
        help="verify, show, export and prove the signed ledger",
        description="The signed, hash-chained, checkpointed record of every GRACE decision.",
    )
    commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="SUBCOMMAND")

    verify = commands.add_parser(
        "verify",
        help="check signatures, chain, checkpoints and witnesses",
        description="Exit 0 when clean, 1 naming the first bad sequence number, 2 on error.",
    )
    _source_args(verify)
    _key_args(verify, required=True)
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a file of witnessed checkpoints (repeatable)",
    )
    verify.add_argument(
        "--witness-namespace",
        metavar="NS",
        help="read witnessed checkpoints from the ConfigMaps in this namespace",
    )
    verify.add_argument("--origin", help="the log origin the checkpoints must name")
    verify.add_argument(
        "--allow-empty",
        action="store_true",
        help="a ledger with no entries is ok (by default it fails: a ledger was expected)",
    )
    verify.add_argument(
        "--every-signature",
        action="store_true",
        help="check every entry's signature, also those a verified checkpoint already proves",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_guarded(_verify))

    show = commands.add_parser("show", help="list entries, filtered by mission, type and time")
    _source_args(show)
    _filter_args(show)
    show.add_argument("--json", action="store_true", help="print entries as JSON lines")
    show.set_defaults(func=_guarded(_show))

    export = commands.add_parser(
        "export",
        help="write the ledger as JSON lines (entries and checkpoints), verifiable offline",
    )
    _source_args(export)
    export.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    export.set_defaults(func=_guarded(_export))

    prove = commands.add_parser(
        "prove", help="inclusion proofs of a Mission's entries against a signed checkpoint"
    )
    prove.add_argument("mission", help="the Mission's name")
    _source_args(prove)
    prove.add_argument("-n", "--namespace", help="the Mission's namespace")
    _key_args(prove, required=False)
    prove.set_defaults(func=_guarded(_prove))

    consistency = commands.add_parser(
        "consistency", help="prove that a newer checkpoint extends an older one"
    )
    _source_args(consistency)
    consistency.add_argument("--old", type=int, required=True, metavar="SIZE")
    consistency.add_argument("--new", type=int, metavar="SIZE", help="default: the newest")
    _key_args(consistency, required=False)
    consistency.set_defaults(func=_guarded(_consistency))

    keygen = commands.add_parser(
        "keygen", help="print a Secret manifest holding a new Ed25519 signing key"
    )
    keygen.add_argument("--name", default="grace-ledger-key")
    keygen.add_argument("--namespace", default="grace-system")
    keygen.add_argument(
        "--previous",
        action="append",
        default=[],
        type=Path,
        metavar="PEM",
        help="public keys to keep trusting after a rotation (the old trusted.pem)",
    )
    keygen.set_defaults(func=_guarded(_keygen))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `grace ledger ...` alone (the `grace` entry point normally registers it)."""
    parser = argparse.ArgumentParser(prog="grace")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


# -- arguments ---------------------------------------------------------------------------------


def _source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a ledger or export")
    parser.add_argument(
        "--from-cluster",
        action="store_true",
        help="read the ConfigMap segments through the current kubeconfig",
    )
    parser.add_argument("--ledger-namespace", default="grace-system", metavar="NS")
    parser.add_argument("--prefix", default="grace-ledger", help="segment name prefix")
    parser.add_argument("--context", help="kubeconfig context")


def _key_args(parser: argparse.ArgumentParser, *, required: bool) -> None:
    need = "" if not required else f" (required, or set ${KEYS_ENV})"
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        type=Path,
        metavar="PEM",
        help=f"trusted public keys: a PEM bundle or a key Secret directory{need}",
    )


def _filter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mission", help="only entries of this Mission")
    parser.add_argument("-n", "--namespace", help="only entries about objects in this namespace")
    parser.add_argument(
        "--type",
        action="append",
        default=[],
        dest="types",
        metavar="TYPE",
        help="entry type or pattern, e.g. step.* (repeatable)",
    )
    parser.add_argument("--since", type=_moment, help="RFC 3339 time, or an age like 30m, 2h, 7d")
    parser.add_argument("--until", type=_moment, help="RFC 3339 time, or an age like 30m")


def _moment(text: str) -> datetime:
    age = re.fullmatch(r"(\d+)([smhd])", text)
    if age:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[age.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(age.group(1))})
    try:
        moment = parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time or age: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- commands ----------------------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    keyring = _trusted_keys(args.public_key)
    # witness first: a checkpoint is witnessed only after its entries are stored, so whatever
    # the witness holds is already in the ledger read next (no false "truncated" in a race)
    witnessed = _witnessed(args)
    log = _read(args, deferred=True)
    report = verify_log(
        log, keyring, witnessed=witnessed, origin=args.origin, every_signature=args.every_signature
    )
    source = (
        str(args.file)
        if args.file is not None
        else f"namespace {args.ledger_namespace} (prefix {args.prefix})"
    )
    expect = Expectation(
        source=source,
        witness_named=bool(args.witness or args.witness_namespace),
        allow_empty=args.allow_empty,
    )
    report = judge(report, len(log.entries), len(log.checkpoints), expect)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "first_bad_seq": report.first_bad_seq,
                    "problem": report.problem,
                    "checked": report.checked,
                    "checkpoints_checked": report.checkpoints_checked,
                    "problems": [{"seq": p.seq, "message": p.message} for p in report.problems],
                    "notes": list(report.notes),
                    "unproven": list(report.unproven),
                }
            )
        )
    else:
        print(report.summary())
        others = sorted(report.problems, key=lambda p: p.seq)[1:] if not report.ok else []
        for problem in others[:MAX_OTHER_PROBLEMS]:
            print(f"  also at seq {problem.seq}: {problem.message}")
        if len(others) > MAX_OTHER_PROBLEMS:
            print(f"  ... and {len(others) - MAX_OTHER_PROBLEMS} more (--json lists them all)")
        for unproven in report.unproven:
            print(f"not proven: {unproven}")
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_TAMPERED


def _show(args: argparse.Namespace) -> int:
    log = _read(args)
    where = EntryFilter(args.mission, args.namespace, tuple(args.types), args.since, args.until)
    chosen = select(log.entries, where)
    if args.json:
        for entry in chosen:
            print(json.dumps(entry.model_dump(mode="json"), sort_keys=True))
    else:
        print(f"{'SEQ':>6}  {'TIME':<27} {'TYPE':<22} {'MISSION':<24} {'SUBJECT':<40} DATA")
        for entry in chosen:
            print(_row(entry))
    _warn_unreadable(log)
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    log = _read(args)
    data = render(log.entries, log.checkpoints)
    if args.output:
        try:
            args.output.write_bytes(data)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc}") from exc
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    _warn_unreadable(log)
    print(
        f"exported {len(log.entries)} entries and {len(log.checkpoints)} checkpoints",
        file=sys.stderr,
    )
    return EXIT_OK


def _prove(args: argparse.Namespace) -> int:
    log = _read(args)
    proof = prove_mission(log.entries, log.checkpoints, args.mission, args.namespace)
    print(proof.model_dump_json(indent=2))
    if not proof.entries and not proof.pending:
        print(f"no ledger entries for Mission {args.mission}", file=sys.stderr)
        return EXIT_TAMPERED
    if proof.pending:
        print(
            f"note: seq {', '.join(map(str, proof.pending))} are newer than the newest "
            "checkpoint and cannot be proven yet",
            file=sys.stderr,
        )
    keyring = _keyring(args.public_key)
    if keyring is None:
        return EXIT_OK
    problems = verify_mission_proof(proof, keyring)
    for problem in problems:
        print(f"proof: {problem}", file=sys.stderr)
    return EXIT_TAMPERED if problems else EXIT_OK


def _consistency(args: argparse.Namespace) -> int:
    log = _read(args)
    by_size: dict[int, Checkpoint] = {c.tree_size: c for c in log.checkpoints}
    new_size = args.new if args.new is not None else max(by_size, default=0)
    if args.old not in by_size or new_size not in by_size:
        raise UsageError(f"no checkpoints at tree sizes {args.old} and {new_size}")
    if new_size > len(log.entries) or args.old > new_size:
        raise UsageError(f"cannot prove {args.old} -> {new_size} over {len(log.entries)} entries")
    proof = prove_consistency(log.entries, by_size[args.old], by_size[new_size])
    print(proof.model_dump_json(indent=2))
    keyring = _keyring(args.public_key)
    if keyring is None:
        return EXIT_OK
    problems = verify_consistency_proof(proof, keyring)
    for problem in problems:
        print(f"proof: {problem}", file=sys.stderr)
    return EXIT_TAMPERED if problems else EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    previous = Keyring.load(args.previous) if args.previous else None
    print(
        secret_manifest(
            Signer.generate(), name=args.name, namespace=args.namespace, previous=previous
        ),
        end="",
    )
    return EXIT_OK


# -- input -------------------------------------------------------------------------------------


def _read(args: argparse.Namespace, *, deferred: bool = False) -> ParsedLog:
    """`deferred` only for verify: see `records.parse_lines`."""
    if args.from_cluster == (args.file is not None):
        raise UsageError("give either a FILE or --from-cluster")
    if args.file is not None:
        try:
            return parse_lines(args.file.read_bytes(), deferred=deferred)
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc}") from exc
    api = _core_api(args.context)
    _require_namespace(api, args.ledger_namespace, "--ledger-namespace")
    store = ConfigMapStore(api, args.ledger_namespace, prefix=args.prefix)
    return parse_segments(store.segments(), deferred=deferred)


def _witnessed(args: argparse.Namespace) -> list[Checkpoint]:
    found: list[Checkpoint] = []
    for path in args.witness:
        try:
            found.extend(parse_lines(path.read_bytes()).checkpoints)
        except OSError as exc:
            raise UsageError(f"cannot read witness {path}: {exc}") from exc
    if args.witness_namespace:
        api = _core_api(args.context)
        _require_namespace(api, args.witness_namespace, "--witness-namespace")
        witness = ConfigMapWitness(api, args.witness_namespace, args.origin)
        found.extend(witness.checkpoints())
    return found


def _require_namespace(api: Any, namespace: str, flag: str) -> None:
    """A namespace that does not exist is a typo (or a deleted ledger), never "0 entries, ok".

    An auditor who may not read namespaces (403) goes on: an empty ledger still fails, and a
    witness with none of the ledger's checkpoints too.
    """
    try:
        api.read_namespace(namespace)
    except Exception as exc:
        if getattr(exc, "status", None) == 404:
            raise UsageError(f"{flag} {namespace}: no such namespace") from exc
        if getattr(exc, "status", None) != 403:
            raise


def _keyring(paths: list[Path]) -> Keyring | None:
    if not paths and os.environ.get(KEYS_ENV):
        paths = [Path(p) for p in os.environ[KEYS_ENV].split(os.pathsep) if p]
    return Keyring.load(paths) if paths else None


def _trusted_keys(paths: list[Path]) -> Keyring:
    keyring = _keyring(paths)
    if keyring is None:
        raise UsageError(
            "no trusted public key: pass --public-key (the trusted.pem of the ledger key Secret) "
            f"or set {KEYS_ENV}"
        )
    return keyring


def _core_api(context: str | None) -> Any:
    from grace.runtime.kube import Kube

    return Kube.connect(context=context).core


def _row(entry: LedgerEntry) -> str:
    subject = entry.subject
    where = f"{subject.kind}/{subject.namespace + '/' if subject.namespace else ''}{subject.name}"
    data = json.dumps(entry.data, sort_keys=True, separators=(",", ":"))
    if len(data) > 60:
        data = data[:57] + "..."
    return (
        f"{entry.seq:>6}  {entry.time:<27} {entry.type:<22} {mission_of(entry) or '-':<24} "
        f"{where:<40} {data}"
    )


def _warn_unreadable(log: ParsedLog) -> None:
    if log.unreadable is not None:
        print(
            f"warning: stopped at line {log.unreadable.line} ({log.unreadable.reason}); "
            "run `grace ledger verify`",
            file=sys.stderr,
        )


def _guarded(command: Command) -> Command:
    """Map input, key and cluster errors to exit 2 with one line, instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (UsageError, KeyFileError, LedgerCorruptedError, OSError) as exc:
            print(f"grace ledger: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:
            if type(exc).__name__ not in _CLUSTER_ERRORS:
                raise
            print(f"grace ledger: cluster: {explain(exc)}", file=sys.stderr)
            return EXIT_USAGE

    return run
