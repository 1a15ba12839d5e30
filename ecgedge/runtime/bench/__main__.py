"""``python -m ecgedge.runtime.bench``: one worker (a job as JSON on stdin, the result as JSON on stdout)."""

from .worker import main

main()
