"""batchacct-collector-slurm: SLURM sacct --parsable2 output (files or sacct itself) into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("slurm", argv)


if __name__ == "__main__":
    main()
