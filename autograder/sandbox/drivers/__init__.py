"""The drivers: what the grader runs in its sandbox, next to the student's code (common to all assignments, then
per assignment). They return data, never a verdict; the checks call them as "autograder.sandbox.drivers.<module>:<name>"
through `sub.kit`, and the sandbox runs them as its snapshot found them (autograder/sandbox/server.py)."""
