#!/usr/bin/env python3
"""Sum meson's test results over one or more testlog JSON files (BUILD/meson-logs/testlog*.json).

Prints "N passed, N failed" (", N skipped" when any were) and exits 1 if any test failed or a log
is missing (a missing log counts as one failure: its run did not happen). OK and EXPECTEDFAIL
count as passed, SKIP as skipped, everything else (FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS) failed.
"""
import json
import sys


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as log:
                for line in log:
                    if not line.strip():
                        continue
                    result = json.loads(line)["result"]
                    if result in ("OK", "EXPECTEDFAIL"):
                        passed += 1
                    elif result == "SKIP":
                        skipped += 1
                    else:
                        failed += 1
        except OSError as error:
            print(f"meson_count: {path}: {error.strerror}", file=sys.stderr)
            failed += 1
    text = f"{passed} passed, {failed} failed"
    if skipped:
        text += f", {skipped} skipped"
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
