"""`tobs-tui emulator`: run the local DC in the foreground, write a session for it, stop cleanly on Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tobs_tui.emulator.profiles import PROFILES

MAX_SEED = 2**64 - 1  # what a world file's seed may be too


def _seed(text: str) -> int:
    """An argparse type: the seed, a usage error (exit 2) when it is not a whole number in range."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number between 0 and 2**64-1, got {text!r}")
    return seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="realistic", choices=sorted(PROFILES), help="behaviour profile")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument(
        "--session-out",
        required=True,
        metavar="PATH",
        help="where to write the session: a SQLite file if PATH ends in .session, else a StringSession text file",
    )
    parser.add_argument("--world", metavar="FILE", help="world file (.json or .toml); default: the synthetic world")
    parser.add_argument(
        "--seed", type=_seed, default=1, help="seed of the synthetic world and of random faults (0 to 2**64-1)"
    )
    parser.add_argument(
        "--dcs",
        default="2",
        metavar="IDS",
        help="data centers to serve, each on its own port, the account's first (e.g. 2,4; default 2)",
    )
    parser.add_argument(
        "--mtproxy-secret",
        metavar="HEX",
        help="also serve an MTProxy port with this secret (32 hex digits, or dd and 32 for random padding)",
    )
    parser.add_argument(
        "--latency-ms", type=float, metavar="MS", help="delay before every reply, in place of the profile's own"
    )


def run(args: argparse.Namespace) -> int:
    from tobs_tui.emulator import LOOPBACK, Emulator, check_dcs
    from tobs_tui.emulator.server import DC_ID
    from tobs_tui.emulator.transports import check_mtproxy_secret

    if args.latency_ms is not None and not 0 <= args.latency_ms <= 60_000:
        print(f"--latency-ms {args.latency_ms:g} is out of range; use 0-60000.", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"Port {args.port} is out of range; use 0 (any free port) or 1-65535.", file=sys.stderr)
        return 2
    try:
        if args.mtproxy_secret is not None:
            check_mtproxy_secret(args.mtproxy_secret)
        dcs = check_dcs(args.dcs)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        overrides = {"latency_ms": args.latency_ms} if args.latency_ms is not None else None
        emulator = Emulator(
            profile=args.profile,
            seed=args.seed,
            world=args.world,
            overrides=overrides,
            mtproxy_secret=args.mtproxy_secret,
            dcs=dcs,
        )
    except (OSError, ValueError) as e:
        if args.world is None:
            raise
        print(e, file=sys.stderr)  # the world loader's own one-sentence message names the file
        return 2
    try:
        emulator.start(port=args.port)
    except OSError as e:
        print(f"Cannot listen on {LOOPBACK}:{args.port} ({e.strerror}); pick another --port or 0.", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            path = emulator.write_session(args.session_out)
        except OSError as e:
            print(
                f"Cannot write the session to {args.session_out} ({e.strerror}); choose a writable path.",
                file=sys.stderr,
            )
            return 1
        print(
            f"tobs-tui emulator listening on {emulator.host}:{emulator.port} "
            f"(DC {DC_ID}, profile {args.profile}, seed {args.seed}); session written to {path}",
            flush=True,
        )
        for dc in dcs[1:]:
            print(f"DC {dc} on {emulator.host}:{emulator.port_of(dc)}", flush=True)
        if args.mtproxy_secret is not None:
            print(f"MTProxy on {emulator.host}:{emulator.mtproxy_port}: {emulator.mtproxy_link()}", flush=True)
        # Waking twice a second runs the handlers even if the signal reached another thread while this one
        # slept in a lock: a plain wait() once sat through Ctrl-C for 15 s in a loaded test run.
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emulator.stop()
    print("emulator stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tobs-tui emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
