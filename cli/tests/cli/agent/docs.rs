//! The examples of `docs/agent.md`, run against the emulator.
