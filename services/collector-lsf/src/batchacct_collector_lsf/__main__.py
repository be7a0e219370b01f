"""batchacct-collector-lsf: LSF lsb.acct files into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("lsf", argv, needs_machine_name=True)


if __name__ == "__main__":
    main()
