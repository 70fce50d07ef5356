"""Class mode's command line: keys, tenants' budgets and usage, straight in Redis.

    python -m reference_service keys create --n 40 --prefix cs101 --rpm 20 --tpm 40000 \\
        --budget-usd 2 [--period day|week|total] [--format json|csv] [--out keys.csv]
    python -m reference_service keys list [--tenant T]
    python -m reference_service keys revoke ID [ID ...] | --tenant T
    python -m reference_service keys rotate ID [ID ...]
    python -m reference_service keys set ID [ID ...] | --tenant T [--rpm N] [--tpm N]
        [--budget-usd X | --no-budget] [--period P]
    python -m reference_service tenants set NAME --budget-usd X [--period P] | --no-budget
    python -m reference_service tenants list
    python -m reference_service usage [--tenant T] [--by key|tenant] [--format csv|json]

It needs REDIS_URL (the Redis the service uses): the keys live there, where every worker of
the service reads them. Raw keys are printed once (create, rotate) and kept nowhere.
Exit status: 0 done, 1 refused (an unknown key id, Redis unreachable), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
from typing import Any

COMMANDS = ("keys", "tenants", "usage")
KEY_COLUMNS = ("id", "key", "tenant", "rpm", "tpm", "budget_usd", "period")
RECORD_COLUMNS = (
    "id",
    "tenant",
    "status",
    "rpm",
    "tpm",
    "budget_usd",
    "period",
    "created",
    "revoked_at",
    "rotated_at",
)


class CommandError(Exception):
    """A refusal the user is told about (exit status 1)."""


# long: one argparse tree, every command and its options read top to bottom
def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m reference_service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)

    def output(p: argparse.ArgumentParser, default: str = "json", out: bool = False) -> None:
        p.add_argument("--format", choices=("json", "csv"), default=default)
        if out:
            p.add_argument(
                "--out",
                metavar="FILE",
                help="write there (made with mode 0600; "
                "an existing file is never overwritten) instead of stdout",
            )

    def limits(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--rpm", type=_positive_int, help="requests per minute (default: RATE_LIMIT_RPM)"
        )
        p.add_argument(
            "--tpm", type=_positive_int, help="tokens per minute (default: RATE_LIMIT_TPM)"
        )
        p.add_argument("--budget-usd", type=_positive_float, help="spending limit per period")
        p.add_argument(
            "--period",
            choices=("day", "week", "total"),
            help="budget period (default: total, never resets)",
        )

    keys = commands.add_parser("keys", help="make, list, revoke, rotate or change API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make N keys; prints them once")
    create.add_argument("--n", type=_positive_int, required=True, help="how many (1-1000)")
    create.add_argument("--prefix", required=True, help="key ids are <prefix>-001, -002...")
    create.add_argument(
        "--tenant",
        help="their tenant (default: the prefix); keys of one "
        "tenant share its budget and its cached answers",
    )
    create.add_argument(
        "--tenant-per-key",
        action="store_true",
        help="each key its own tenant (its id): no answers shared",
    )
    limits(create)
    output(create, out=True)
    listing = actions.add_parser("list", help="the keys (never the secrets)")
    listing.add_argument("--tenant")
    output(listing)
    for name, text in (
        ("revoke", "refuse these keys from their next request on"),
        ("rotate", "new secrets for these keys; the old ones stop working"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("ids", nargs="*", metavar="ID")
        p.add_argument("--tenant", help="every key of this tenant")
        output(p, out=name == "rotate")
    change = actions.add_parser("set", help="change limits or budget of keys")
    change.add_argument("ids", nargs="*", metavar="ID")
    change.add_argument("--tenant", help="every key of this tenant")
    limits(change)
    change.add_argument("--no-budget", action="store_true", help="remove the key's budget")
    output(change)

    tenants = commands.add_parser("tenants", help="a tenant's budget (all its keys together)")
    tactions = tenants.add_subparsers(dest="action", required=True)
    tset = tactions.add_parser("set", help="set or remove a tenant's budget")
    tset.add_argument("name")
    tset.add_argument("--budget-usd", type=_positive_float)
    tset.add_argument("--period", choices=("day", "week", "total"), default="total")
    tset.add_argument("--no-budget", action="store_true")
    tlist = tactions.add_parser("list", help="tenants and their budgets")
    output(tlist)

    usage = commands.add_parser("usage", help="usage per key or tenant")
    usage.add_argument("--tenant")
    usage.add_argument("--by", choices=("key", "tenant"), default="key")
    output(usage, default="csv")
    return root


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive amount")
    return value


def main(argv: list[str]) -> int:
    """Run one command; its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "keys" and args.action == "create" and args.n > 1000:
        parser.error("--n: at most 1000 keys at a time")
    if getattr(args, "tenant_per_key", False) and args.tenant:
        parser.error("--tenant and --tenant-per-key contradict each other")
    if getattr(args, "no_budget", False) and args.budget_usd is not None:
        parser.error("--budget-usd and --no-budget contradict each other")
    if (
        args.command == "tenants"
        and args.action == "set"
        and not args.no_budget
        and args.budget_usd is None
    ):
        parser.error("tenants set: give --budget-usd X (or --no-budget)")
    if (
        args.command == "keys"
        and args.action in ("revoke", "rotate", "set")
        and not args.ids
        and not args.tenant
    ):
        parser.error(f"keys {args.action}: name key ids, or --tenant")
    if getattr(args, "out", None) and os.path.exists(args.out):
        parser.error(f"--out {args.out}: the file exists (it is never overwritten)")

    from .config import Settings

    settings = Settings()
    if not settings.redis_url:
        print(
            "REDIS_URL is not set. Class mode keeps its keys, budgets and usage in Redis, "
            "shared by every worker of the service; set REDIS_URL to the Redis the service "
            "uses (the embedded fakeredis lives inside one server process, out of reach).",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(_run(args, settings))
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, settings: Any) -> int:
    from redis.exceptions import RedisError

    from .clock import SystemClock
    from .keys import KeyStore, UnknownKey
    from .redis_client import make_redis

    redis = make_redis(settings)
    store = KeyStore(redis)
    now = SystemClock().time()
    try:
        text = await _command(args, store, settings, now)
    except UnknownKey as exc:
        raise CommandError(f"no key with id {exc.args[0]!r} (see `keys list`)") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except RedisError as exc:
        raise CommandError(f"Redis at REDIS_URL is unreachable ({type(exc).__name__})") from None
    finally:
        await redis.aclose()
    _emit(text, getattr(args, "out", None))
    return 0


# long: one dispatch over the command line's commands, one branch each
async def _command(args: argparse.Namespace, store: Any, settings: Any, now: float) -> str:
    fmt = getattr(args, "format", "json")
    if args.command == "usage":
        from .usage import report, to_csv

        data = await report(store.redis, now, settings.budget_timezone, args.tenant)
        rows = data["keys"] if args.by == "key" else data["tenants"]
        if fmt == "csv":
            return to_csv(rows, by=args.by)
        for row in rows:
            row.pop("last_seen_unix", None)
        return json.dumps(rows, indent=2) + "\n"
    if args.command == "tenants":
        if args.action == "set":
            t = await store.set_tenant(
                args.name, None if args.no_budget else args.budget_usd, args.period
            )
            print(
                f"tenant {t.name}: "
                + (f"budget ${t.budget_usd:g} ({t.period})" if t.budget_usd else "no budget"),
                file=sys.stderr,
            )
            return ""
        tenants = [await store.tenant(name) for name in await store.tenant_names()]
        return _table(
            [{"tenant": t.name, "budget_usd": t.budget_usd, "period": t.period} for t in tenants],
            ("tenant", "budget_usd", "period"),
            fmt,
        )

    ids = list(getattr(args, "ids", []) or [])
    if getattr(args, "tenant", None) and args.action in ("revoke", "rotate", "set"):
        ids += [i for i in await store.ids(args.tenant) if i not in ids]
        if not ids:
            raise CommandError(f"tenant {args.tenant!r} has no keys")
    if args.action == "create":
        made = await store.create(
            args.n,
            args.prefix,
            now,
            tenant=args.tenant,
            rpm=args.rpm,
            tpm=args.tpm,
            budget_usd=args.budget_usd,
            period=args.period or "total",
            tenant_per_key=args.tenant_per_key,
        )
        whose = "each its own tenant" if args.tenant_per_key else f"tenant {made[0].record.tenant}"
        print(
            f"made {len(made)} keys, {whose}. The keys are shown this once: Redis keeps "
            "only their SHA-256.",
            file=sys.stderr,
        )
        return _new_keys(made, fmt)
    if args.action == "rotate":
        made = await store.rotate(ids, now)
        print(
            f"rotated {len(made)} keys: their old secrets are refused from now on. The new "
            "keys are shown this once.",
            file=sys.stderr,
        )
        return _new_keys(made, fmt)
    if args.action == "revoke":
        records = await store.revoke(ids, now)
        print(f"revoked {len(records)} keys: refused from their next request on.", file=sys.stderr)
    elif args.action == "set":
        records = await store.update(
            ids,
            rpm=args.rpm,
            tpm=args.tpm,
            budget_usd=args.budget_usd,
            clear_budget=args.no_budget,
            period=args.period,
        )
    else:  # list
        records = await store.records(await store.ids(args.tenant))
    return _table([r.public() for r in records], RECORD_COLUMNS, fmt)


def _new_keys(made: list[Any], fmt: str) -> str:
    rows = [
        {
            "id": k.record.id,
            "key": k.raw,
            "tenant": k.record.tenant,
            "rpm": k.record.rpm,
            "tpm": k.record.tpm,
            "budget_usd": k.record.budget_usd,
            "period": k.record.period,
        }
        for k in made
    ]
    return _table(rows, KEY_COLUMNS, fmt)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _emit(text: str, path: str | None) -> None:
    if not text:
        return
    if path is None:
        sys.stdout.write(text)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # The keys are made already: they must not be lost for a file name.
        sys.stdout.write(text)
        raise CommandError(
            f"{path} exists and was not overwritten; the keys went to stdout instead"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    print(f"written to {path} (mode 0600)", file=sys.stderr)
