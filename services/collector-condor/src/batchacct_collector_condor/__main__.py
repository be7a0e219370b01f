"""batchacct-collector-condor: HTCondor and HTCondor-CE history (per-job history files, condor_history -l, batch files) into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("condor", argv)


if __name__ == "__main__":
    main()
