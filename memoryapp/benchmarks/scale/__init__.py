"""`manage.py memory_bench retrieval`: the app's dense retrieval on a table of up to 1M units.

`scratch` runs the benchmark on a throw-away Postgres (`memoryapp.devstack.scratch`, shared
with the memory evaluation), `population`, `vectors` and `texts` make the synthetic owners
and units, `loading` puts them into the segment table, `measure` times the app's query path
against an exact scan, `report` prints the tables and `retrieval` ties the stages together.
"""
