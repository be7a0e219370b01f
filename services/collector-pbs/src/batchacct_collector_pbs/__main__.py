"""batchacct-collector-pbs: PBS/Torque/OpenPBS/PBS Pro accounting logs into Kafka."""

from batchacct.collector_cli import main_for


def main(argv: list[str] | None = None) -> None:
    main_for("pbs", argv)


if __name__ == "__main__":
    main()
