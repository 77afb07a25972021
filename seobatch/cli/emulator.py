"""``seobatch emulator``: serve both provider batch APIs locally, for offline work and demos."""

from __future__ import annotations

import argparse
import json

from ..config import Settings
from ..errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "emulator", help="serve the Anthropic and Gemini batch APIs locally",
        description="Serve the Anthropic Message Batches API and the Gemini Batch + Files APIs on one "
        "local port, with deterministic SEO replies and optional faults. Runs until Ctrl-C. "
        "Control it at runtime with POST /_emulator/faults (JSON) and read GET /_emulator/stats.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default %(default)s)")
    parser.add_argument("--processing-seconds", type=float, default=5.0, metavar="S",
                        help="a batch ends S seconds after it was created (default %(default)s)")
    parser.add_argument("--api-key", help="accept only this key (default: any non-empty key)")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="X", help="share of items errored")
    parser.add_argument("--expire-rate", type=float, default=0.0, metavar="X", help="share of items expired")
    parser.add_argument("--malformed-rate", type=float, default=0.0, metavar="X",
                        help="share of items whose reply is not valid SEO JSON")
    parser.add_argument("--batch-outcome", choices=("expire", "cancel", "fail"),
                        help="how the next created batch ends")
    parser.add_argument("--delay", type=float, default=0.0, metavar="S", help="answer every call S seconds late")
    parser.add_argument("--retry-after", type=float, default=None, metavar="S",
                        help="retry hint on scripted 429/503/529 replies (default 0.05)")
    parser.add_argument("--in-order", action="store_true", help="return results in request order")
    parser.add_argument("--obey-injections", action="store_true",
                        help="replies follow instructions injected into page text (security testing)")
    parser.add_argument("--faults", metavar="JSON",
                        help='more faults as JSON, e.g. \'{"http_errors": {"create": [429, 529]}}\'')
    parser.set_defaults(func=run)


def faults_from_args(args: argparse.Namespace) -> dict:
    faults: dict = {
        "error_rate": args.error_rate, "expire_rate": args.expire_rate, "malformed_rate": args.malformed_rate,
        "batch_outcome": args.batch_outcome, "delay": args.delay,
        "results_out_of_order": not args.in_order, "obey_injections": args.obey_injections,
    }
    if args.retry_after is not None:
        faults["retry_after"] = args.retry_after
    if args.faults:
        try:
            extra = json.loads(args.faults)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--faults is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise ConfigError("--faults must be a JSON object of fault names and values")
        faults.update(extra)
    return faults


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..emulator import Emulator, Faults  # start-up cost: only this command loads the emulator

    try:
        faults = Faults.build(**faults_from_args(args))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad fault setting: {exc}") from None
    emu = Emulator(args.host, args.port, args.processing_seconds, api_key=args.api_key, faults=faults)
    try:
        emu.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"seobatch emulator listening on {emu.url} (batches end {args.processing_seconds:g}s after creation)")
    print("point the clients and SDKs at it with:")
    for name, value in emu.env().items():
        print(f"  export {name}={value}")
    print("faults: POST /_emulator/faults, stats: GET /_emulator/stats; Ctrl-C to stop", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        print("emulator stopped")
    return 0
