"""The pure lifecycle of a directive: events, state, decide/evolve/replay and the planner. No I/O, no clock."""
