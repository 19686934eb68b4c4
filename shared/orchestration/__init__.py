"""Pure orchestration logic: polling schedule and retry policy, free of I/O so replays agree."""
