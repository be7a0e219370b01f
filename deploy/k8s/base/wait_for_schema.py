"""Init container of every batchacct pod: wait until the migration Job has applied the schema.

The image's own migrations (``batchacct/_migrations``) must all be in ``schema_migrations``, so a
new image never runs against an older schema. Exits 0 when they are, 1 after about 30 minutes.
Only the error's type is printed: a connection error can carry the connection string.
"""

import os
import sys
import time

import psycopg

from batchacct.db import migrations_dir

WANTED = {p.stem for p in migrations_dir().glob("[0-9][0-9][0-9][0-9]_*.sql")}

for _ in range(360):
    try:
        with psycopg.connect(os.environ["BATCHACCT_DATABASE_URL"], connect_timeout=5) as conn:
            have = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        missing = sorted(WANTED - have)
        if not missing:
            sys.exit(0)
        sys.stderr.write(f"waiting for the migration Job: {len(missing)} not applied\n")
    except psycopg.Error as err:
        sys.stderr.write(f"waiting for the database / migration Job: {type(err).__name__}\n")
    time.sleep(5)
sys.exit(1)
