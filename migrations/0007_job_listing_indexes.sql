-- The job listing's most used filters (GET /api/v1/jobs?vo=... or ?local_user_id=...), each with
-- the end time that leads the listing's keyset order: a page is one index range, however deep
-- the cursor and however rare the value. Without them a page scans the end-time index until it
-- has found enough jobs of that VO or user (all of them, for a value with few or no jobs).
-- Two columns only: ties on the end time are few, and a narrow index costs the joiner less.
CREATE INDEX job_records_by_vo ON job_records (vo, end_time);
CREATE INDEX job_records_by_user ON job_records (local_user_id, end_time);
