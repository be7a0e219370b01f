"""Helpers the parser tests share: the sample files' lines, and UTC times written briefly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def sample_lines(formats_dir: Path, name: str) -> list[str]:
    """The lines of one file of ``shared/formats`` (its copy in ``tests/fixtures/formats``)."""
    return (formats_dir / name).read_text(encoding="utf-8").splitlines()


def utc(text: str) -> datetime:
    """``2026-10-01T10:00:00`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# apel-facts §2.2's example messages, exactly as APEL writes them: pbs.log line 1 joined with the
# grid identity of blah.log line 1, at HEPSPEC 10.
JOB_V03_TEXT = """\
APEL-individual-job-message: v0.3
Site: testSite
SubmitHost: cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL
MachineName: testHost
Queue: grid4000M
LocalJobId: 21048463.lcgbatch01.gridpp.rl.ac.uk
LocalUserId: patls009
GlobalUserName: /O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg
FQAN: /atlas/Role=production/Capability=NULL
VO: atlas
VOGroup: /atlas
VORole: Role=production
WallDuration: 69784
CpuDuration: 65724
Processors: 1
NodeCount: 1
StartTime: 1317509945
EndTime: 1317534104
InfrastructureDescription: APEL-CREAM-PBS
InfrastructureType: grid
MemoryReal: 2031040
MemoryVirtual: 3335528
ServiceLevelType: HEPSPEC
ServiceLevel: 10.0
%%
"""
SUMMARY_V02_TEXT = """\
APEL-summary-job-message: v0.2
Site: testSite
Month: 10
Year: 2011
GlobalUserName: /O=GermanGrid/OU=UniWuppertal/CN=Torsten Harenberg
VO: atlas
VOGroup: /atlas
VORole: Role=production
SubmitHost: cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL
InfrastructureType: grid
ServiceLevelType: HEPSPEC
ServiceLevel: 10.0
NodeCount: 1
Processors: 1
EarliestEndTime: 1317534104
LatestEndTime: 1317534104
WallDuration: 69784
CpuDuration: 65724
NumberOfJobs: 1
%%
"""
SYNC_V01_TEXT = """\
APEL-sync-message: v0.1
Site: testSite
SubmitHost: cream-2-fzk.gridka.de:8443/cream-pbs-atlasXL
NumberOfJobs: 1
Month: 10
Year: 2011
%%
"""
