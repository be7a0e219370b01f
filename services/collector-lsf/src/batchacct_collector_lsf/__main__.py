"""batchacct-collector-lsf: LSF lsb.acct files into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("lsf", argv)


if __name__ == "__main__":
    main()
