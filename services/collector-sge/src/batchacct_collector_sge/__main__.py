"""batchacct-collector-sge: SGE, Son of Grid Engine and Univa/Altair GE accounting files into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("sge", argv)


if __name__ == "__main__":
    main()
