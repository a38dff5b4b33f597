"""The checks of the script tests (tests/scripts/test_*.py, run by ctest): check() records a condition that
failed with what it was about, and the test goes on; finish() prints the failures and exits 1 if there
were any, else says the test passed."""
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def finish(name):
    for f in failures:
        print("FAIL:", f)
    print(f"{name}: {'FAILED' if failures else 'passed'} ({len(failures)} failures)")
    sys.exit(1 if failures else 0)
