"""The Textual dashboard. Talks to the engine only through its runner, snapshots and events."""
