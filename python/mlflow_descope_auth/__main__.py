"""Command line: ``python -m mlflow_descope_auth login URL`` and ``logout URL``.

``login`` signs in to an MLflow behind mlflow-descope-auth with the browser and
stores a personal access key where the MLflow client looks for one; ``logout``
revokes that key and removes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from mlflow_descope_auth.signin import (
    LoginError,
    _open_browser,
    credentials_path,
    device_login,
    export_lines,
    logout,
    loopback_login,
    write_credentials,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlflow_descope_auth", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    login = sub.add_parser(
        "login",
        help="sign in with the browser and store a personal access key",
        description="Sign in to an MLflow behind mlflow-descope-auth and get a personal access key "
        "(a Descope access key bound to you). By default the key goes to ~/.mlflow/credentials.",
    )
    login.add_argument("url", help="the MLflow URL, e.g. https://mlflow.example.com")
    login.add_argument(
        "--device",
        action="store_true",
        help="for a machine without a browser: show a code to confirm in any browser",
    )
    login.add_argument(
        "--print",
        dest="print_exports",
        action="store_true",
        help="print export lines for the shell instead of writing the credentials file",
    )
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; print the sign-in URL to open on this computer",
    )
    login.add_argument("--days", type=int, default=None, help="key lifetime in days (one the gateway offers)")
    login.add_argument(
        "--credentials-file",
        default=None,
        help="where to write the key (default ~/.mlflow/credentials, which the MLflow client reads)",
    )
    login.add_argument("--timeout", type=float, default=None, help="seconds to wait for the sign-in")
    out = sub.add_parser(
        "logout",
        help="revoke the stored access key and remove it",
        description="Revoke the access key that login stored (at the gateway, at once) and remove it from "
        "the credentials file, for a machine you give up. Other keys are managed on /auth/keys.",
    )
    out.add_argument("url", help="the MLflow URL the key is for")
    out.add_argument("--credentials-file", default=None, help="the file login wrote (default ~/.mlflow/credentials)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stderr
    if args.command == "logout":
        try:
            print(logout(args.url, args.credentials_file), file=out)
        except LoginError as e:
            print(f"logout failed: {e}", file=out)
            return 1
        return 0
    kw = {"timeout": args.timeout} if args.timeout else {}
    try:
        if args.device:
            creds = device_login(args.url, out=out, expires_days=args.days, **kw)
        else:
            opener = None if args.no_browser else _open_browser
            creds = loopback_login(args.url, out=out, expires_days=args.days, open_browser=opener, **kw)
    except LoginError as e:
        print(f"login failed: {e}", file=out)
        return 1
    except KeyboardInterrupt:
        print("login cancelled", file=out)
        return 130
    who = creds.login_id or creds.username
    if args.print_exports:
        sys.stdout.write(export_lines(creds))
        print(f"Signed in as {who}; key {creds.key_name} expires {creds.expires_at}.", file=out)
        return 0
    path = write_credentials(creds, args.credentials_file)
    print(
        f"Signed in as {who}. The key {creds.key_name} (expires {creds.expires_at}) is in {path}.\n"
        f"Use MLflow with:\n  export MLFLOW_TRACKING_URI={creds.tracking_uri}",
        file=out,
    )
    if args.credentials_file is None or os.path.abspath(path) == os.path.abspath(credentials_path()):
        shadowing = [v for v in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD") if os.environ.get(v)]
        if shadowing:
            print(f"Note: {' and '.join(shadowing)} in your environment take precedence over the file.", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
