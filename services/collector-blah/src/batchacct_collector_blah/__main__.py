"""batchacct-collector-blah: CREAM and HTCondor-CE BLAH accounting logs into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("blah", argv)


if __name__ == "__main__":
    main()
