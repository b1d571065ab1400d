"""hakbench: the side-by-side allocator comparison behind scripts/compare.

Modules: allocators (which malloc to preload), workloads (what to run, per mode),
runner (running one process and measuring it), apps (redis, sqlite, python, g++),
report (statistics, markdown, stdout table), charts (PNG charts, matplotlib).
"""
