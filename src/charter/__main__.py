"""``python -m charter``: the same command line as the ``charter`` script."""

from charter.cli import run

if __name__ == "__main__":
    run()
