"""The chaos soak of georep.mars on the lab (issue #16): ``python3 -m soak run|schedule|report``.

``recordio`` (writer and scanner, copied to lab hosts), ``checker`` (RPO, lineage, final state),
``nemesis`` (faults and the schedule), ``decide`` (the operator), ``report`` (report.md and PNG),
``events`` (the JSON-lines log), ``lab`` (every lab call) and ``driver`` (the run).  See README.md.
"""
