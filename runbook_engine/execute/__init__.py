"""Running a loaded runbook: the data a run sees, sections and steps, events, drills.

runner orders sections and steps and emits events; step runs one automated step
(render, call the plugin under its timeout, judge, retry, wait); data builds what
templates and expressions see; drill times a contingency against its RTO.
"""
