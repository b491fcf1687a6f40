"""The README's first command, ``scripts/demo``, on a fresh Debian 12: a debootstrap minbase root
(the unit rehearsal's, this machine's architecture) with nothing installed but the base system.

    sudo .venv/bin/python -m bench.fresh_demo [--release trixie]

``--release trixie``: on a fresh Debian 13 (Python 3.13), cached apart in bench/.cache/debian13-systemd.tar.

The committed checkout (``git archive HEAD``) goes into the root and ``scripts/demo`` runs there as
root: apt installs what it needs, pip the pinned versions, and with no mic array the bundled sample
is replayed through the whole pipeline in real time. Prints the exit code, the time it took and the
end of what it printed; asserts nothing. ``scripts/test`` on a fresh machine is what CI runs.
Needs root and Debian's debootstrap.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from bench.rehearsal_root import RELEASES, add_release_argument, extract_head, fresh_root, host_problem
from bench.unit_rehearsal import SYSTEMD_PACKAGES, cache

TIMEOUT_S = 900


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_release_argument(parser)
    release = parser.parse_args(argv).release
    debian = RELEASES[release].debian
    if (problem := host_problem({})) is not None:
        print(f"fresh_demo: {problem}", file=sys.stderr)
        return 2
    with fresh_root(cache(release), "amd64", SYSTEMD_PACKAGES, release=release) as root:
        checkout = root.path / "work" / "listener"
        checkout.mkdir(parents=True)
        extract_head(checkout)
        t0 = time.perf_counter()
        done = root.run("bash", "-c", f"cd /work/listener && timeout {TIMEOUT_S} scripts/demo")
        took_s = time.perf_counter() - t0
    print(f"scripts/demo on a fresh Debian {debian} root: exit {done.returncode} after {took_s:.0f} s")
    print("-- stdout (end)\n" + "\n".join(done.stdout.strip().splitlines()[-10:]))
    print("-- stderr (end)\n" + "\n".join(done.stderr.strip().splitlines()[-4:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
