"""Resilience: faults scheduled against a run's clock, and what they did.

- ``config``: the ``[[faults]]`` entries and ``[recovery]`` of a scenario (validated data);
- ``kinds``: how each kind is applied and put back (the emulator's admin API locally, AWS FIS
  experiments and API Gateway stage throttling on AWS, Lambda reserved concurrency on both);
- ``scheduler``: applies them on time during a run and always ends them;
- ``recovery``: how long after a burst or a fault the client view came back to its baseline.
"""
