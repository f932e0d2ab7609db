"""The fault-injection suite: kills, stops, full disks and reset connections at random moments."""
