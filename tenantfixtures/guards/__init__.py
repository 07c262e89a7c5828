"""Guards that keep tests honest: no sandbox escape, no real network, no leaked secrets."""
